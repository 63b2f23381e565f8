// Login: paste a token (kept in this tab's sessionStorage only). A one-time
// login link (/ui/#code=...) logs in without this page (app.js).

import { h, replace } from '../js/dom.js';
import { auth, whoami, forgetMe } from '../js/api.js';
import { loggedIn } from '../js/app.js';

export function render(root, params, ctx) {
  const input = h('textarea', { id: 'token', rows: 3, autocomplete: 'off', spellcheck: 'false', placeholder: 'crl_…' });
  const err = h('p.error', { id: 'login-error', hidden: true, role: 'alert' });
  const form = h('form.card.login', {
    onsubmit: async (e) => {
      e.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      auth.set(t);
      forgetMe();
      try {
        const me = await whoami(true);
        if (!me.authenticated && me.authEnabled !== false) throw new Error('token not accepted');
        loggedIn();
        const next = ctx.query.get('next');
        location.hash = '#' + (next && next !== '/login' ? next : '/dashboard');
      } catch (ex) {
        auth.clear();
        err.hidden = false;
        err.textContent = 'Refused: ' + (ex.message || ex);
      }
    },
  },
  h('h1', null, 'Log in to Corral'),
  h('p', null, 'Paste an API token (', h('code', null, 'corralctl auth token create'),
    ', or the admin token that ', h('code', null, 'hack/local-up.sh'), ' made). It stays in this tab only and is sent as an ',
    h('code', null, 'Authorization'), ' header, never in a URL.'),
  h('label.field', null, h('span', null, 'Token'), input),
  err,
  h('div.actions', null, h('button.primary', { type: 'submit', id: 'login' }, 'Log in')));
  replace(root, form);
  input.focus();
}
