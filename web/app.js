// drux web app: small enhancements over server-rendered pages. Every page works
// without this file; with it, a running question updates live (SSE) and the
// finished result is swapped in as rendered by the server (/q/<id>?fragment=1).
'use strict';

(function () {
  const ORDER = ['done', 'running', 'queued', 'failed', 'timeout', 'refused', 'cancelled', 'unknown'];
  const WORDS = {
    queued: 'waiting', running: 'answering', done: 'done', failed: 'failed', timeout: 'timed out',
    cancelled: 'cancelled', refused: 'refused', unknown: 'unknown'
  };
  const PHASES = {
    queued: 'Waiting for a free slot: other questions are being answered. This page updates when the models start.',
    asking: 'The models are answering; this page updates as they do.',
    analyzing: 'Comparing the answers\u2026',
    synthesizing: 'Writing the answer from what they agree on\u2026',
    done: 'Done.'
  };
  const key = (s) => (Object.prototype.hasOwnProperty.call(WORDS, s) ? s : 'unknown');

  function seconds(ms) {
    return ms < 10000 ? (ms / 1000).toFixed(1) + ' s' : Math.round(ms / 1000) + ' s';
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // The question's length in characters (code points), as the server counts it.
  function limitBox(t) {
    const max = Number(t.dataset.maxChars);
    const note = t.form.querySelector('.limit');
    if (!max || !note) return;
    t.removeAttribute('maxlength'); // it counts UTF-16 units; we count what the server counts
    const check = () => {
      const n = Array.from(t.value).length;
      const over = n > max;
      note.textContent = over
        ? 'Too long: ' + n + ' of at most ' + max + ' characters. Shorten it to send.'
        : n + ' of ' + max + ' characters.';
      note.classList.toggle('over', over);
      t.setCustomValidity(over ? 'The question is ' + n + ' characters; the limit is ' + max + '.' : '');
    };
    t.addEventListener('input', check);
    if (t.value) check();
  }

  // Enter asks, Shift+Enter starts a new line; a form is sent once.
  function enhanceForms(root) {
    root.querySelectorAll('form.ask textarea[data-max-chars]').forEach(limitBox);
    root.querySelectorAll('form.ask textarea').forEach((t) => {
      t.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          if (t.value.trim() && t.form.reportValidity()) t.form.requestSubmit();
        }
      });
    });
    root.querySelectorAll('form').forEach((f) => {
      f.addEventListener('submit', (e) => {
        if (f.classList.contains('del') && !f.dataset.sent) {
          // deleting a turn deletes its later turns: the dialog says so; without this
          // script the server asks on a page of its own (no confirm field)
          const later = Number(f.dataset.later || 0);
          const msg = later
            ? 'Delete this question and the ' + later + (later === 1 ? ' later question' : ' later questions') +
              ' of its thread? This cannot be undone.'
            : 'Delete this question? This cannot be undone.';
          if (!window.confirm(msg)) { e.preventDefault(); return; }
          if (!f.querySelector('input[name=confirm]')) {
            const c = el('input');
            c.type = 'hidden';
            c.name = 'confirm';
            c.value = '1';
            f.append(c);
          }
        }
        if (f.dataset.sent) { e.preventDefault(); return; }
        f.dataset.sent = '1';
        const b = f.querySelector('button[type=submit]');
        if (b) b.setAttribute('aria-disabled', 'true');
      });
    });
    root.querySelectorAll('button.copy[data-copy]').forEach((b) => {
      if (!navigator.clipboard) return;
      b.hidden = false;
      b.addEventListener('click', () => {
        const url = new URL(b.dataset.copy, window.location.href).href;
        navigator.clipboard.writeText(url).then(() => { b.textContent = 'Copied'; },
          () => { b.textContent = 'Copy failed'; });
      });
    });
  }

  // A polite live region outside <main>, which is replaced when the result arrives.
  function announce(msg) {
    let r = document.getElementById('announce');
    if (!r) {
      r = el('p', 'vh');
      r.id = 'announce';
      r.setAttribute('aria-live', 'polite');
      document.body.append(r);
    }
    r.textContent = msg;
  }

  // ---- live question -------------------------------------------------------------
  function live(main) {
    // a thread's page: the live turn is the last one (earlier turns are finished)
    const cur = main.querySelector('.turn.current') || main;
    let members = [];
    // the server's word until an event says otherwise: a queued question has no phase yet
    let phase = main.dataset.status === 'queued' ? 'queued' : 'asking';
    let finished = false;
    let es = null;
    let retry = 0;

    function summary() {
      const p = main.querySelector('#progress');
      if (!p) return;
      const by = {};
      members.forEach((m) => { const k = key(m.status); by[k] = (by[k] || 0) + 1; });
      const n = members.length;
      const active = (by.running || 0) + (by.queued || 0);
      let state = 'answering\u2026';
      if (phase === 'queued') state = 'waiting for a free slot\u2026';
      else if (phase === 'analyzing' || (n && !active)) state = 'analysing the answers\u2026';
      if (phase === 'synthesizing') state = 'writing the answer\u2026';
      const parts = ORDER.filter((k) => by[k]).map((k) => by[k] + ' ' + WORDS[k]);
      const rest = ' \u00b7 ' + state + (parts.length ? ' \u2014 ' + parts.join(', ') : '');
      const head = n + (n === 1 ? ' model' : ' models');
      // replaced only when it changes, so screen readers hear each change once
      if (p.textContent === head + rest) return;
      p.replaceChildren(el('strong', null, head), rest);
    }

    function card(i) {
      let d = main.querySelector('#m-' + i);
      if (d) return d;
      const list = cur.querySelector('.members .cards');
      if (!list) return null;
      const li = el('li');
      d = el('details', 'member st-queued');
      d.id = 'm-' + i;
      d.dataset.index = String(i);
      d.open = true;
      const s = el('summary');
      s.append(el('span', 'm-name'), ' ', el('span', 'm-status badge st-queued', WORDS.queued), ' ',
        el('span', 'm-stats'));
      const body = el('div', 'm-body');
      body.append(el('div', 'm-text live'));
      d.append(s, body);
      li.append(d);
      list.append(li);
      return d;
    }

    function draw(i) {
      const m = members[i];
      const d = card(i);
      if (!m || !d) return;
      const k = key(m.status);
      d.className = 'member st-' + k;
      const name = d.querySelector('.m-name');
      if (name && m.name && !name.textContent) name.textContent = m.name;
      const badge = d.querySelector('.m-status');
      if (badge) { badge.className = 'm-status badge st-' + k; badge.textContent = WORDS[k]; }
      const stats = d.querySelector('.m-stats');
      if (stats) {
        const parts = [];
        if (m.latency_ms > 0 && k !== 'running' && k !== 'queued') parts.push(seconds(m.latency_ms));
        if (m.tokens > 0) parts.push(m.tokens + (m.tokens === 1 ? ' token' : ' tokens'));
        const gen = m.latency_ms > m.ttft_ms && m.ttft_ms > 0 ? m.latency_ms - m.ttft_ms : m.latency_ms;
        if (m.tokens > 0 && gen > 0 && k !== 'running' && k !== 'queued') {
          parts.push((m.tokens * 1000 / gen).toFixed(1) + ' tok/s');
        }
        if (m.ttft_ms > 0) parts.push('first token ' + seconds(m.ttft_ms));
        stats.textContent = parts.join(' \u00b7 ');
      }
      let text = d.querySelector('.m-text');
      if (text && text.classList.contains('live') && text.textContent !== (m.text || '')) {
        text.textContent = m.text || '';
      }
      let err = d.querySelector('.m-error');
      if (m.error && k !== 'done') {
        if (!err) {
          err = el('p', 'm-error');
          d.querySelector('.m-body').prepend(err);
        }
        err.textContent = m.error;
      }
    }

    // the answer as the synthesizer writes it (plain text; the finished page renders it)
    function answerDraft(text, append) {
      let box = cur.querySelector('.answer.draft .draft-text');
      if (!box) {
        const sec = el('section', 'answer draft');
        sec.append(el('h2', null, 'Answer'), el('p', 'source', 'Being written\u2026'));
        box = el('div', 'draft-text');
        sec.append(box);
        const members = cur.querySelector('.members');
        if (members) members.before(sec); else cur.append(sec);
      }
      box.textContent = append ? box.textContent + text : text;
    }

    function setPhase(p) {
      phase = p;
      const e = main.querySelector('#phase');
      if (e && PHASES[p]) e.textContent = PHASES[p];
      summary();
    }

    // The question is gone: say only that, and ask the server nothing more.
    function deleted() {
      finished = true;
      if (es) es.close();
      const fresh = el('main', 'qpage gone');
      fresh.id = 'main';
      fresh.dataset.status = 'deleted';
      const p = el('p', 'banner stopped', 'This question was deleted.');
      p.setAttribute('role', 'status');
      const back = el('p');
      const a = el('a', 'button', 'Ask a new question');
      a.href = '/';
      back.append(a);
      fresh.append(p, back);
      main.replaceWith(fresh);
      announce('This question was deleted.');
    }

    let swaps = 0;
    function swap() {
      // the finished page, rendered by the server: the one place that knows how
      fetch(main.dataset.fragment, { headers: { Accept: 'text/html' }, cache: 'no-store' })
        .then((r) => {
          if (r.status === 404) { deleted(); return null; }
          if (!r.ok) throw new Error('HTTP ' + r.status);
          return r.text();
        })
        .then((html) => {
          if (html === null) return;
          const doc = new DOMParser().parseFromString(html, 'text/html');
          const fresh = doc.querySelector('main');
          if (!fresh) throw new Error('no <main> in the fragment');
          const wasFocused = main.contains(document.activeElement);
          main.replaceWith(fresh);
          enhanceForms(fresh);
          evidence(fresh);
          if (fresh.dataset.events) { live(fresh); return; }
          if (wasFocused) { fresh.tabIndex = -1; fresh.focus(); }
          const label = fresh.querySelector('.turn.current .verdict h2') || fresh.querySelector('.verdict h2');
          announce('Result ready. ' + (label ? label.textContent : ''));
        })
        .catch(() => {
          // the server is away: try again, less and less often, then leave a link
          swaps++;
          if (swaps <= 8) window.setTimeout(swap, Math.min(30000, 3000 * swaps));
        });
    }

    function finish() {
      if (finished) return;
      finished = true;
      if (es) es.close();
      swap();
    }

    function parse(e) {
      try { return JSON.parse(e.data); } catch (_) { return null; }
    }

    function connect() {
      es = new EventSource(main.dataset.events);
      es.addEventListener('state', (e) => {
        const q = parse(e);
        if (!q) return;
        retry = 0;
        if (q.status === 'queued') phase = 'queued';
        else if (phase === 'queued') setPhase(q.phase || 'asking');
        if (Array.isArray(q.members)) {
          members = q.members.map((m) => Object.assign({}, m));
          members.forEach((_, i) => draw(i));
          summary();
        }
        if (typeof q.answer_draft === 'string' && q.answer_draft) answerDraft(q.answer_draft, false);
        if (q.status && q.status !== 'running' && q.status !== 'queued') finish();
      });
      es.addEventListener('answer', (e) => {
        const ev = parse(e);
        if (ev && typeof ev.delta === 'string') answerDraft(ev.delta, true);
      });
      es.addEventListener('member', (e) => {
        const ev = parse(e);
        if (!ev || typeof ev.index !== 'number' || ev.index < 0 || ev.index > 64) return;
        const m = members[ev.index] || (members[ev.index] = { text: '' });
        for (const f of ['name', 'status', 'tokens', 'latency_ms', 'ttft_ms', 'error']) {
          if (ev[f] !== undefined && ev[f] !== null) m[f] = ev[f];
        }
        if (typeof ev.delta === 'string') m.text = (m.text || '') + ev.delta;
        draw(ev.index);
        summary();
      });
      es.addEventListener('phase', (e) => {
        const ev = parse(e);
        if (ev && ev.phase) setPhase(ev.phase);
      });
      es.addEventListener('result', finish);
      es.addEventListener('error', (e) => {
        if (finished) return;
        const ev = e instanceof MessageEvent ? parse(e) : null;
        if (ev && ev.code === 'deleted') { deleted(); return; }
        if (ev && ev.message) {
          const p = main.querySelector('#phase');
          if (p) p.textContent = ev.message;
          finish();
          return;
        }
        // the connection dropped: see what the server has, then listen again
        es.close();
        retry++;
        window.setTimeout(() => {
          fetch(main.dataset.fragment, { cache: 'no-store' })
            .then((r) => (r.status === 404 ? null : r.text()))
            .then((html) => {
              if (html === null) { deleted(); return; }
              const doc = new DOMParser().parseFromString(html, 'text/html');
              const fresh = doc.querySelector('main');
              if (fresh && !fresh.dataset.events) finish();
              else connect();
            })
            .catch(() => connect());
        }, Math.min(10000, 1000 * retry));
      });
    }

    if (!window.EventSource || !main.dataset.events) return;
    announce('');
    cur.querySelectorAll('.member').forEach((d) => {
      const i = Number(d.dataset.index);
      const stats = d.querySelector('.m-tokens');
      members[i] = {
        name: (d.querySelector('.m-name') || {}).textContent,
        status: (d.className.match(/st-(\w+)/) || [])[1],
        text: (d.querySelector('.m-text.live') || {}).textContent || '',
        tokens: stats ? Number(stats.textContent) : 0
      };
    });
    connect();
  }

  // ---- evidence: a selected point marks the spans of the answers that made it ----------
  function unmark(root) {
    root.querySelectorAll('mark.evidence').forEach((m) => {
      const p = m.parentNode;
      while (m.firstChild) p.insertBefore(m.firstChild, m);
      p.removeChild(m);
      p.normalize();
    });
  }

  // Markdown's marks, which the evidence (taken from the answer's source) has
  // and the rendered answer has not: emphasis and code marks are skipped on
  // both sides, link targets, list and heading markers dropped from the span.
  const MD_MARK = /[*_`~]/;
  function plainSpan(text) {
    return text
      .replace(/^[ \t]*(?:[-*+]|\d+[.)]|#{1,6}|>)[ \t]+/gm, '')
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[*_`~]/g, '')
      .replace(/\s+/g, ' ').trim().toLowerCase();
  }

  // Marks the first place text occurs in box (across inline elements, spaces
  // compared loosely, Markdown marks ignored); false when it is not there.
  function markText(box, text) {
    const want = plainSpan(text);
    if (!want) return false;
    const nodes = [];
    const walk = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    let all = '';
    const map = []; // index in all -> [node, offset]
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      nodes.push(n);
      const t = n.nodeValue;
      for (let i = 0; i < t.length; i++) {
        if (MD_MARK.test(t[i])) continue;
        const c = /\s/.test(t[i]) ? ' ' : t[i].toLowerCase();
        if (c === ' ' && (all.endsWith(' ') || all === '')) continue;
        all += c;
        map.push([n, i]);
      }
    }
    const at = all.indexOf(want);
    if (at < 0) return false;
    const end = at + want.length - 1;
    // wrap each text node's part of [at, end] on its own
    const parts = new Map();
    for (let k = at; k <= end; k++) {
      const [n, i] = map[k];
      const r = parts.get(n) || [i, i];
      r[0] = Math.min(r[0], i);
      r[1] = Math.max(r[1], i);
      parts.set(n, r);
    }
    let first = null;
    parts.forEach(([a, b], n) => {
      const range = document.createRange();
      range.setStart(n, a);
      range.setEnd(n, b + 1);
      const m = el('mark', 'evidence');
      range.surroundContents(m);
      if (!first) first = m;
    });
    return first;
  }

  function evidence(root) {
    root.querySelectorAll('button.pt.evid').forEach((b) => {
      b.addEventListener('click', () => {
        const scope = b.closest('.turn') || root; // a point marks its own turn's answers
        const on = b.getAttribute('aria-pressed') !== 'true';
        root.querySelectorAll('button.pt.evid[aria-pressed=true]').forEach((x) => x.setAttribute('aria-pressed', 'false'));
        unmark(root);
        if (!on) return;
        b.setAttribute('aria-pressed', 'true');
        let spans = [];
        try { spans = JSON.parse(b.dataset.evidence); } catch (_) { spans = []; }
        let found = 0;
        spans.forEach((e) => {
          if (!e || typeof e.member !== 'string' || typeof e.text !== 'string') return;
          const card = Array.from(scope.querySelectorAll('.member')).find((d) => d.dataset.name === e.member);
          const box = card && card.querySelector('.m-text');
          if (!box) return;
          card.open = true;
          if (markText(box, e.text)) found++;
        });
        announce(found ? 'Marked in ' + found + (found === 1 ? ' answer.' : ' answers.') : 'Not found in the answers.');
      });
    });
  }

  function start() {
    enhanceForms(document);
    evidence(document);
    // back to a page kept in the back/forward cache: its forms may be sent again
    window.addEventListener('pageshow', (e) => {
      if (!e.persisted) return;
      document.querySelectorAll('form[data-sent]').forEach((f) => {
        delete f.dataset.sent;
        const b = f.querySelector('button[type=submit]');
        if (b) b.removeAttribute('aria-disabled');
      });
    });
    const main = document.querySelector('main[data-events]');
    if (main) live(main);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
