/*
 * pages — the web app's HTML, rendered on the server from stored questions.
 *
 * Every page is built from JSON the store keeps (a stored question holds the
 * one analysis object of src/consensus, under "result"): counts, labels and
 * the percentage shown are read from that object, never tallied elsewhere.
 * Model output is always escaped; markdown (the answer, each member's answer)
 * goes through cmark-gfm (tables, strikethrough, autolink) with raw HTML
 * shown as text and links other than http(s)/mailto/relative dropped.
 * Pages carry no inline script or style (the server's CSP forbids both): the
 * behaviour is in /static/app.js, the look in /static/style.css, both
 * embedded from web/ at build time (see web_asset).
 *
 *     dx_buf b = dx_buf_make(DX_PAGE_MAX_BYTES);
 *     if (page_question(&b, stored, false, token) == DX_OK)
 *         send(b.data, b.len);
 *     dx_buf_free(&b);
 *
 * Stored question: {"id", "question", "status": "running|done|interrupted|
 * failed", "error"?, "created_at", "finished_at", "members": [live state],
 * "result": analysis object or null}. Missing or mistyped fields render as
 * absent; they never crash. All functions are reentrant (one buffer each).
 *
 * form_token: the session's token, put as a hidden "token" field in every
 * form that posts (the server refuses a posted form without it); NULL: none.
 */
#ifndef DX_PAGES_H
#define DX_PAGES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "core/str.h"

typedef struct json_t json_t;

/* Home: the ask form, example questions (array of strings; NULL: built-in
 * ones) and recent questions (array of stored questions; texts not needed).
 * Appends to out; fails only when out is full (DX_ELIMIT) or on DX_ENOMEM. */
dx_status page_home(dx_buf *out, json_t *recent, json_t *examples, const char *form_token);

/* One question: the whole page, or (fragment) only its <main> element, which
 * the page's script swaps in when the live result arrives. q is a stored
 * question; a finished one renders completely without JavaScript. */
dx_status page_question(dx_buf *out, json_t *q, bool fragment, const char *form_token);

/* A thread: every turn (turns: stored questions, first to last), each with
 * its own verdict, points and answers, newest last; the last turn is the
 * live one (its events, its fragment) and gets the follow-up form. Earlier
 * turns' element ids are prefixed "t<turn>-" so the page's ids stay unique.
 * page_question is page_thread of one question. */
dx_status page_thread(dx_buf *out, json_t *turns, bool fragment, const char *form_token);

/* The page that asks before deleting question id of a thread (turns, as
 * for page_thread): it names the later turns that go with it. */
dx_status page_delete_confirm(dx_buf *out, json_t *turns, const char *id, const char *form_token);

/* History: items (stored questions, newest first) matching query (NULL or
 * "" for all), each with a link and a delete button. before is the id the
 * page starts after (NULL: the newest); more says older ones exist, so the
 * page links to them. */
dx_status page_history(dx_buf *out, json_t *items, const char *query, const char *before, bool more,
                       const char *form_token);

/* Who looks at the pages this thread renders next (until reset with NULL):
 * the frame shows the account (a settings link, sign out) or "Sign in";
 * the question page offers re-run and delete only when can_change, and the
 * owner's share link carries share. The caller keeps *v alive meanwhile;
 * never set (NULL): anonymous, and re-run and delete are offered. */
/* A premium member as a signed-in user may choose it. */
typedef struct page_member_choice {
    int index; /* its place in the council: the form field is pm<index> */
    const char *name, *model;
    bool chosen; /* ticked: the user's default */
} page_member_choice;

/* A provider a user may bring a key for; saved: one is stored (never shown). */
typedef struct page_key_slot {
    const char *provider;
    bool saved;
} page_key_slot;

/* What the server offers beyond the free members (NULL: nothing). */
typedef struct page_premium {
    const page_member_choice *members;
    size_t n_members;
    const page_key_slot *keys;
    size_t n_keys;
    int used_today, daily_limit; /* premium calls; daily_limit < 0: not shown */
} page_premium;

typedef struct page_viewer {
    const char *account;         /* signed-in account name; NULL: anonymous */
    bool can_change;             /* may re-run and delete the question shown */
    const char *share;           /* the owner's view: the question's share token */
    const char *via_share;       /* opened through a share link: its token, kept in live URLs */
    const page_premium *premium; /* the council's premium members: the ask form's choices
                                    (signed in) or the invitation to sign in (anonymous) */
} page_viewer;

void page_viewer_set(const page_viewer *v);

typedef enum page_account_form { PAGE_SIGNIN, PAGE_SIGNUP } page_account_form;

/* The sign-in or sign-up page: name prefilled (NULL: empty), error shown
 * above the form (NULL: none); signup_open false says the server takes no
 * new accounts. */
dx_status page_account(dx_buf *out, page_account_form form, const char *form_token,
                       const char *name, const char *error, bool signup_open);
/* A signed-in user's settings: change password, default premium members and
 * provider keys (the viewer's premium), sign out everywhere. */
dx_status page_settings(dx_buf *out, const char *form_token, const char *name, const char *notice,
                        const char *error);

/* An error page for http_status with a one-line message for a person. */
dx_status page_error(dx_buf *out, int http_status, const char *message);

/* An embedded file by URL path ("/static/app.js"): its bytes, length and
 * MIME type. False when there is no such asset. The data is static. */
bool web_asset(const char *path, const unsigned char **data, size_t *len, const char **mime);

/* An analysis label ("partial", ...) in words ("Partial agreement"); NULL
 * for a label it does not know. The page and the Markdown export say the same. */
const char *page_label_title(const char *label);

/* Markdown to safe HTML (the renderer behind the pages), appended to out. */
dx_status page_markdown(dx_buf *out, const char *md, size_t len);

#endif
