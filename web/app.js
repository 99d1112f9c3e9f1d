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

  // Enter asks, Shift+Enter starts a new line; a form is sent once.
  function enhanceForms(root) {
    root.querySelectorAll('form.ask textarea').forEach((t) => {
      t.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          if (t.value.trim()) t.form.requestSubmit();
        }
      });
    });
    root.querySelectorAll('form').forEach((f) => {
      f.addEventListener('submit', (e) => {
        if (f.classList.contains('del') && !window.confirm('Delete this question? This cannot be undone.')) {
          e.preventDefault();
          return;
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
    let members = [];
    let phase = 'asking';
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
      if (phase === 'analyzing' || (n && !active)) state = 'analysing the answers\u2026';
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
      const list = main.querySelector('.members .cards');
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
      let box = main.querySelector('.answer.draft .draft-text');
      if (!box) {
        const sec = el('section', 'answer draft');
        sec.append(el('h2', null, 'Answer'), el('p', 'source', 'Being written\u2026'));
        box = el('div', 'draft-text');
        sec.append(box);
        const members = main.querySelector('.members');
        if (members) members.before(sec); else main.append(sec);
      }
      box.textContent = append ? box.textContent + text : text;
    }

    function setPhase(p) {
      phase = p;
      const e = main.querySelector('#phase');
      if (e && PHASES[p]) e.textContent = PHASES[p];
      summary();
    }

    function swap() {
      // the finished page, rendered by the server: the one place that knows how
      fetch(main.dataset.fragment, { headers: { Accept: 'text/html' }, cache: 'no-store' })
        .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text(); })
        .then((html) => {
          const doc = new DOMParser().parseFromString(html, 'text/html');
          const fresh = doc.querySelector('main');
          if (!fresh) throw new Error('no <main> in the fragment');
          const wasFocused = main.contains(document.activeElement);
          main.replaceWith(fresh);
          enhanceForms(fresh);
          if (fresh.dataset.events) { live(fresh); return; }
          if (wasFocused) { fresh.tabIndex = -1; fresh.focus(); }
          const label = fresh.querySelector('.verdict h2');
          announce('Result ready. ' + (label ? label.textContent : ''));
        })
        .catch(() => { window.setTimeout(swap, 3000); });
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
            .then((r) => r.text())
            .then((html) => {
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
    main.querySelectorAll('.member').forEach((d) => {
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

  function start() {
    enhanceForms(document);
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
