// The admin console: a thin page over /admin/api/. The token lives in sessionStorage only.
'use strict';

const $ = (selector, root = document) => root.querySelector(selector);
const state = { invitations: [], resources: [], roles: [], users: null, clients: [], keys: [], subscribers: [], usage: null, routes: null };
/**
 * The users list is searched and paged by the server (a directory may hold millions): the
 * search text, the cursors of the pages before this one, and this page's.
 */
const users = { q: '', before: [], cursor: '' };
/** How long typing pauses before a search is sent. */
const SEARCH_DEBOUNCE_MS = 250;
/** Each list's search text and page (lists are paged here: 20 rows a page). */
const view = {};
const PAGE = 20;

/**
 * Renders one page of `items` into `tbody`, those whose text contains the list's search, with a
 * pager under the table ("21–40 of 75", previous, next).
 */
function paged(list, tbody, items, row) {
  const v = (view[list] ??= { search: '', page: 0 });
  const needle = v.search.toLowerCase();
  const matching = needle ? items.filter((i) => JSON.stringify(i).toLowerCase().includes(needle)) : items;
  const pages = Math.max(1, Math.ceil(matching.length / PAGE));
  v.page = Math.min(v.page, pages - 1);
  const shown = matching.slice(v.page * PAGE, (v.page + 1) * PAGE);
  tbody.replaceChildren(...shown.map(row));
  const pager = $(`.pager[data-list="${list}"]`);
  if (!pager) return;
  const first = matching.length ? v.page * PAGE + 1 : 0;
  const go = (page) => () => { v.page = page; render(); };
  pager.replaceChildren(
    el('span', { class: 'muted' }, `${first}–${v.page * PAGE + shown.length} of ${matching.length}`),
    el('button', { class: 'small', type: 'button', onclick: go(v.page - 1), ...(v.page === 0 ? { disabled: '' } : {}) }, 'Previous'),
    el('button', { class: 'small', type: 'button', onclick: go(v.page + 1), ...(v.page >= pages - 1 ? { disabled: '' } : {}) }, 'Next'),
  );
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A row with a bar as long as its share of the largest value (set through CSSOM: the console's CSP allows no inline styles). */
function barRow(label, value, max) {
  const bar = el('span', { class: 'bar' });
  bar.style.width = `${Math.max(2, Math.round((value / max) * 120))}px`;
  return el('tr', { 'data-label': label }, el('td', {}, label), el('td', {}, bar, String(value)));
}

/** The usage section: calls per day as bars, per route, the top users, refusals by reason. */
function renderUsage() {
  const usage = state.usage;
  if (!usage) return;
  const days = [];
  for (let i = usage.days - 1; i >= 0; i--) days.push(new Date(Date.now() - i * 86400000).toISOString().slice(0, 10));
  const perDay = Object.fromEntries(days.map((d) => [d, 0]));
  const perRoute = {};
  const only = $('#usage-route').value;
  for (const r of usage.by_day) {
    if (r.day in perDay && (!only || r.route === only)) perDay[r.day] += r.calls;
    perRoute[r.route] = (perRoute[r.route] ?? 0) + r.calls;
  }
  // The day chart shows every route, or the one picked.
  $('#usage-route').replaceChildren(
    el('option', { value: '' }, 'all routes'),
    ...Object.keys(perRoute).sort().map((r) => el('option', { value: r, ...(r === only ? { selected: '' } : {}) }, r)),
  );
  const chart = $('#chart-days');
  const width = 300, height = 120, max = Math.max(1, ...Object.values(perDay));
  const step = width / days.length;
  chart.setAttribute('viewBox', `0 0 ${width} ${height + 14}`);
  chart.replaceChildren(...days.flatMap((d, i) => {
    const h = Math.round((perDay[d] / max) * height);
    const bar = svg('rect', { x: (i * step + 1).toFixed(1), y: height - h, width: Math.max(1, step - 2).toFixed(1), height: h, 'data-day': d, 'data-calls': perDay[d] });
    bar.append(svg('title', {}, `${d}: ${perDay[d]} calls`));
    return i % Math.ceil(days.length / 7) === 0 ? [bar, svg('text', { x: (i * step).toFixed(1), y: height + 11 }, d.slice(5))] : [bar];
  }));
  const routes = Object.entries(perRoute).sort((a, b) => b[1] - a[1]);
  const routeMax = Math.max(1, ...routes.map(([, c]) => c));
  $('#chart-routes tbody').replaceChildren(...(routes.length ? routes.map(([r, c]) => barRow(r, c, routeMax)) : [el('tr', {}, el('td', { class: 'muted' }, 'No calls yet.'))]));
  const userMax = Math.max(1, ...usage.top_users.map((u) => u.calls));
  $('#chart-users tbody').replaceChildren(...usage.top_users.map((u) => barRow(u.email || u.user_id, u.calls, userMax)));
  const refusedMax = Math.max(1, ...usage.refused.map((r) => r.calls));
  $('#chart-refused tbody').replaceChildren(...usage.refused.map((r) => barRow(r.reason, r.calls, refusedMax)));
}

function token() {
  return sessionStorage.getItem('portcullis-admin-token') ?? '';
}

async function api(method, path, body) {
  const res = await fetch(`/admin/api/${path}`, {
    method,
    headers: { authorization: `Bearer ${token()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const error = new Error(data?.error_description ?? `HTTP ${res.status}`);
    error.status = res.status;
    error.fields = data?.fields ?? {};
    throw error;
  }
  return data;
}

async function all(path) {
  const items = [];
  let after = '';
  for (;;) {
    const page = await api('GET', `${path}?limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    items.push(...page.items);
    if (!page.next_cursor) return items;
    after = page.next_cursor;
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'onclick') node.addEventListener('click', v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? '')));
  return node;
}

function notice(text) {
  $('#notice').textContent = text;
}

function showError(form, error) {
  const fields = Object.entries(error.fields ?? {}).map(([f, m]) => `${f} ${m}`);
  $('.error', form).textContent = fields.length ? fields.join('; ') : error.message;
}

function choices(container, items, name, checked = []) {
  container.replaceChildren(
    ...items.map((item) =>
      el('label', {}, el('input', { type: 'checkbox', name, value: item.value, ...(checked.includes(item.value) ? { checked: '' } : {}) }), item.label),
    ),
  );
}

/** The pasted JWKS as JSON, or a field error the form shows like the server's. */
function parseJwks(text) {
  try {
    return JSON.parse(text);
  } catch {
    throw Object.assign(new Error('jwks: is not JSON'), { fields: { jwks: 'is not JSON' } });
  }
}

/** A confidential client's roles, editable in place (what it may do with client_credentials). */
function clientRoles(c, roleChoices) {
  const box = el('div', { class: 'choices' });
  choices(box, roleChoices, `client-roles-${c.id}`, c.roles.map((r) => r.id));
  return el('div', {}, box, el('button', { class: 'small save-roles', onclick: () => act(async () => {
    await api('PUT', `clients/${c.id}/roles`, { roles: checkedValues(box, `client-roles-${c.id}`) });
    notice(`Roles of ${c.name} saved.`);
  }) }, 'Save roles'));
}

/**
 * A user's upstream identities (Google, GitHub, …), shown on demand: each with its provider,
 * subject and email, and a button that unlinks it.
 */
function identitiesCell(u) {
  const cell = el('td', { class: 'identities' });
  const show = async () => {
    const { identities } = await api('GET', `users/${u.id}/identities`);
    cell.replaceChildren(
      identities.length === 0 ? el('span', { class: 'muted' }, 'password only') : '',
      ...identities.map((i) => el('div', { class: 'identity', 'data-provider': i.provider },
        `${i.provider}: ${i.subject}${i.email ? ` (${i.email}${i.email_verified ? '' : ', unverified'})` : ''} `,
        el('button', { class: 'small', onclick: () => act(async () => {
          await api('DELETE', `users/${u.id}/identities/${encodeURIComponent(i.provider)}`);
          notice(`${i.provider} unlinked from ${u.email}.`);
        }) }, 'Unlink'))),
    );
  };
  // Showing changes nothing, so the table is not reloaded (which would hide the list again).
  cell.append(el('button', { class: 'small show-identities', onclick: () => show().catch((e) => notice(`Error: ${e.message}`)) }, 'Show'));
  return cell;
}

function checkedValues(root, name) {
  return [...root.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}

function render() {
  const permissions = state.resources.flatMap((r) => r.permissions.map((p) => ({ value: p.id, label: `${p.name} (${r.name})` })));
  paged('resources', $('#resources tbody'), state.resources, (r) =>
      el('tr', { 'data-id': r.id },
        el('td', {}, r.name),
        el('td', {}, el('code', {}, r.indicator)),
        el('td', {}, r.default ? 'yes' : ''),
        el('td', {},
          el('form', { class: 'inline alg-form', 'data-resource': r.id },
            el('select', { name: 'access_token_alg', 'aria-label': `Access-token algorithm of ${r.name}` },
              ...['EdDSA', 'RS256'].map((alg) => el('option', { value: alg, ...(r.access_token_alg === alg ? { selected: '' } : {}) }, alg))),
            el('p', { class: 'error', role: 'alert' })),
        ),
        el('td', {},
          r.permissions.map((p) => p.name).join(', '),
          el('form', { class: 'inline permission-form', 'data-resource': r.id },
            el('input', { name: 'name', placeholder: 'new permission', required: '' }),
            el('button', { type: 'submit', class: 'small' }, 'Add'),
            el('p', { class: 'error', role: 'alert' })),
        ),
      ));
  for (const form of document.querySelectorAll('.permission-form')) {
    form.addEventListener('submit', (e) => submit(e, form, async () => {
      await api('POST', `resources/${form.dataset.resource}/permissions`, { name: form.elements.name.value.trim() });
      notice('Permission added.');
    }));
  }
  for (const form of document.querySelectorAll('.alg-form')) {
    form.elements.access_token_alg.addEventListener('change', (e) => submit(e, form, async () => {
      await api('PATCH', `resources/${form.dataset.resource}`, { access_token_alg: form.elements.access_token_alg.value });
      notice('Access-token algorithm changed; new grants use it.');
    }));
  }
  choices($('[data-choices="permissions"]'), permissions, 'permissions');

  paged('roles', $('#roles tbody'), state.roles, (r) => el('tr', { 'data-id': r.id }, el('td', {}, r.name), el('td', {}, r.permissions.map((p) => p.name).join(', '))));
  const roleChoices = state.roles.map((r) => ({ value: r.id, label: r.name }));
  choices($('[data-choices="roles"]'), roleChoices, 'roles');
  choices($('[data-choices="client-roles"]'), roleChoices, 'client-roles');

  renderUsers(roleChoices);
  choices($('[data-choices="role-names"]'), state.roles.map((r) => ({ value: r.name, label: r.name })), 'invite-roles');
  $('#invitations tbody').replaceChildren(...state.invitations.map((i) => el('tr', { 'data-id': i.id },
    el('td', {}, i.email),
    el('td', {}, i.roles.join(', ')),
    el('td', {}, new Date(i.expires_at * 1000).toLocaleString()),
    el('td', {}, el('button', { class: 'small danger', onclick: () => act(async () => {
      await api('DELETE', `invitations/${encodeURIComponent(i.id)}`);
      notice(`Invitation to ${i.email} withdrawn.`);
    }) }, 'Withdraw')))));

  // Self-registered clients (dozens after a day of MCP traffic) are listed apart.
  paged('dynamic-clients', $('#dynamic-clients tbody'), state.clients.filter((c) => c.registered_via === 'dynamic'), (c) =>
    el('tr', { 'data-id': c.id },
      el('td', {}, c.name),
      el('td', {}, el('code', {}, c.id)),
      el('td', {}, c.kind),
      el('td', {}, c.redirect_uris.join('\n'))));
  paged('clients', $('#admin-clients tbody'), state.clients.filter((c) => c.registered_via !== 'dynamic'), (c) =>
      el('tr', { 'data-id': c.id },
        el('td', {}, c.name),
        el('td', {}, el('code', {}, c.id)),
        el('td', {}, [c.kind, c.token_endpoint_auth_method === 'private_key_jwt' && 'private_key_jwt', c.first_party && 'first party', c.may_introspect && 'resource server', c.dpop_bound_access_tokens && 'DPoP only', c.registered_via === 'dynamic' && 'self-registered'].filter(Boolean).join(', ')),
        el('td', {}, c.redirect_uris.join('\n')),
        el('td', {}, c.kind === 'confidential' ? clientRoles(c, roleChoices) : ''),
        el('td', {}, c.token_endpoint_auth_method === 'client_secret_basic'
          ? el('button', { class: 'small', onclick: () => act(async () => {
              const r = await api('POST', `clients/${c.id}/secret`);
              notice(`New secret for ${c.name} (shown once): ${r.client_secret}`);
            }) }, 'Rotate secret')
          : ''),
      ));

  renderUsage();
  const counts = Object.entries(state.planCounts ?? {});
  $('#plan-counts').textContent = counts.length
    ? counts.map(([plan, n]) => `${plan}: ${n} holding`).join(' · ')
    : 'Nobody holds a paid plan.';
  paged('subscribers', $('#subscribers tbody'), state.subscribers, (s) =>
    el('tr', { 'data-user': s.user_id },
      el('td', {}, s.email || s.user_id),
      el('td', {}, s.plan),
      el('td', {}, s.status),
      el('td', {}, s.current_period_end ? new Date(s.current_period_end * 1000).toISOString().slice(0, 10) : '')));

  renderRoutes();

  paged('api-keys', $('#api-keys tbody'), state.keys, (k) =>
      el('tr', { 'data-id': k.id },
        el('td', {}, el('code', {}, `${k.prefix}…`)),
        el('td', {}, k.user_email ?? k.user_id),
        el('td', {}, k.name),
        // The plugin it works at; a key from before keys named one works only at a lone user_http plugin.
        el('td', {}, k.plugin ?? 'none (older key)'),
        el('td', {}, k.scopes),
        el('td', {}, k.revoked_at ? 'revoked' : 'active'),
        el('td', {}, k.revoked_at ? '' : el('button', { class: 'small', onclick: () => act(async () => {
          await api('DELETE', `api-keys/${k.id}`);
          notice('Key revoked.');
        }) }, 'Revoke')),
      ));
}

/** A user's sign-in methods in words: "password, github, 2 passkeys, authenticator app". */
function signInMethods(u) {
  const keys = u.sign_in?.passkeys ?? 0;
  const methods = [
    ...(u.sign_in?.password ? ['password'] : []),
    ...(u.sign_in?.providers ?? []),
    ...(keys ? [keys === 1 ? '1 passkey' : `${keys} passkeys`] : []),
    ...(u.sign_in?.totp ? ['authenticator app'] : []),
  ];
  return methods.length ? methods.join(', ') : 'none';
}

/** The page of users the server answered, with a pager that follows its cursors. */
function renderUsers(roleChoices) {
  const page = state.users;
  if (!page) return;
  $('#users tbody').replaceChildren(...page.items.map((u) => {
    const roleBox = el('div', { class: 'choices' });
    choices(roleBox, roleChoices, `roles-${u.id}`, u.roles.map((r) => r.id));
    const signIns = identitiesCell(u);
    signIns.prepend(el('span', { class: 'sign-in-methods' }, signInMethods(u)), ' ');
    if (u.sign_in?.passkeys || u.sign_in?.totp) {
      // A lost device: the passkeys and the authenticator app go, and every session with them.
      signIns.append(' ', el('button', { class: 'small danger', onclick: () => act(async () => {
        if (!confirm(`Remove every passkey and the authenticator app of ${u.email}? They sign in with their other ways, and set them up again.`)) return;
        await api('DELETE', `users/${u.id}/factors`);
        notice(`Passkeys and authenticator app of ${u.email} removed.`);
      }) }, 'Reset factors'));
    }
    return el('tr', { 'data-id': u.id, 'data-email': u.email },
      el('td', {}, u.email),
      el('td', {}, u.name),
      el('td', {}, roleBox, el('button', { class: 'small save-roles', onclick: () => act(async () => {
        await api('PUT', `users/${u.id}/roles`, { roles: checkedValues(roleBox, `roles-${u.id}`) });
        notice(`Roles of ${u.email} saved.`);
      }) }, 'Save roles')),
      el('td', {}, u.disabled ? 'disabled' : 'active', ' ', el('button', { class: 'small', onclick: () => act(async () => {
        const { quota } = await api('GET', `users/${u.id}/quota`);
        notice(quota
          ? `Quota of ${u.email} (${quota.plan} plan): ${quota.used_exact ? '' : 'at most '}${quota.used} of ${quota.limit} calls used; resets in ${quota.resets_in}.`
          : 'No quota is configured for this plugin.');
      }) }, 'Quota')),
      el('td', {}, el('button', { class: 'small', onclick: () => act(async () => {
        await api('PATCH', `users/${u.id}`, { disabled: !u.disabled });
        notice(`${u.email} ${u.disabled ? 'enabled' : 'disabled'}.`);
      }) }, u.disabled ? 'Enable' : 'Disable')),
      signIns,
    );
  }));
  const pager = $('.pager[data-list="users"]');
  const first = users.before.length * PAGE + 1;
  const last = first + page.items.length - 1;
  const go = (move) => () => move().then(render).catch((e) => notice(`Error: ${e.message}`));
  pager.replaceChildren(
    // The total is known on the last page only: the server counts nothing.
    el('span', { class: 'muted' }, page.items.length
      ? `${first}–${last} of ${page.next_cursor ? `more than ${last}` : last}`
      : users.q ? `No user matches “${users.q}”.` : 'No users yet.'),
    el('button', { class: 'small', type: 'button', onclick: go(previousUsers), ...(users.before.length ? {} : { disabled: '' }) }, 'Previous'),
    el('button', { class: 'small', type: 'button', onclick: go(nextUsers), ...(page.next_cursor ? {} : { disabled: '' }) }, 'Next'),
  );
}

/** `users?q=&cursor=&limit=`, the server's search. */
function usersQuery(q, cursor, limit = PAGE) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (q) params.set('q', q);
  if (cursor) params.set('cursor', cursor);
  return `users?${params}`;
}

/** This page of users again (after a change, or a new search from its first page). */
async function loadUsers() {
  state.users = await api('GET', usersQuery(users.q, users.cursor));
}

async function nextUsers() {
  if (!state.users?.next_cursor) return;
  users.before.push(users.cursor);
  users.cursor = state.users.next_cursor;
  await loadUsers();
}

async function previousUsers() {
  if (!users.before.length) return;
  users.cursor = users.before.pop();
  await loadUsers();
}

/** Runs `fn` once typing has paused. */
function debounced(fn) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), SEARCH_DEBOUNCE_MS);
  };
}

/** The user whose email is exactly `email` (in any case), asked of the server. */
async function userByEmail(email) {
  const wanted = email.trim().toLowerCase();
  if (!wanted) return null;
  const { items } = await api('GET', usersQuery(wanted, '', 5));
  return items.find((u) => u.email.toLowerCase() === wanted) ?? null;
}

/** The route table and the OpenAPI document's operations beside it: where they disagree. */
function renderRoutes() {
  const r = state.routes;
  if (!r) return;
  $('#routes-summary').textContent = r.problem
    ? `The document's operations cannot be compared: ${r.problem}`
    : r.document === false
      ? `No OpenAPI document is deployed with this plugin (an MCP server, or an API without one): the ${r.rules.length} rules below stand alone.`
      : `${r.operations.length} operations in the document, ${r.disagreements} where the gateway does otherwise.`
      + (r.from_openapi ? ' Rules for the operations come from the document (routes_from_openapi).' : '');
  paged('operations', $('#operations-body'), r.operations, (o) =>
    el('tr', { class: o.agrees ? '' : 'disagrees' },
      el('td', {}, el('code', {}, `${o.method} ${o.path}`)),
      el('td', {}, o.document),
      el('td', {}, o.gateway),
      el('td', {}, o.agrees ? '' : 'differs')));
  paged('rules', $('#rules-body'), r.rules, (rule) =>
    el('tr', {},
      el('td', {}, el('code', {}, `${rule.methods.length ? rule.methods.join(',') : 'any'} ${rule.path}`)),
      el('td', {}, [rule.rule, rule.plan && `plan ${rule.plan}`, rule.agents?.length && `signed by ${rule.agents.join(', ')}`].filter(Boolean).join(', ')),
      el('td', {}, rule.source === 'openapi' ? 'the document' : 'configuration')));
}

async function load() {
  const days = $('#usage-days')?.value ?? '14';
  let subscribers;
  [state.resources, state.roles, state.clients, state.keys, state.usage, subscribers] = await Promise.all([
    ...['resources', 'roles', 'clients', 'api-keys'].map(all),
    api('GET', `usage?days=${days}`),
    api('GET', 'subscribers'),
  ]);
  state.routes = await api('GET', 'routes');
  // Plugins without a portal (no sign-in) have no invitations: an empty list.
  state.invitations = (await api('GET', 'invitations').catch(() => ({ items: [] }))).items;
  await loadUsers();
  state.subscribers = subscribers.items;
  state.planCounts = subscribers.holding_by_plan;
  render();
}

async function act(fn) {
  try {
    await fn();
    await load();
  } catch (e) {
    notice(`Error: ${e.message}`);
  }
}

async function submit(event, form, fn) {
  event.preventDefault();
  $('.error', form).textContent = '';
  try {
    await fn();
    form.reset();
    await load();
  } catch (e) {
    showError(form, e);
  }
}

function wire() {
  const userSearch = $('input.search[data-list="users"]');
  userSearch.addEventListener('input', debounced(() => {
    users.q = userSearch.value.trim();
    users.before = [];
    users.cursor = '';
    loadUsers().then(render).catch((e) => notice(`Error: ${e.message}`));
  }));
  // The API-key form's user: an email, with suggestions from the server as it is typed.
  const keyUser = $('#key-form [name=user_email]');
  keyUser.addEventListener('input', debounced(async () => {
    const q = keyUser.value.trim();
    const { items } = q ? await api('GET', usersQuery(q, '', 10)).catch(() => ({ items: [] })) : { items: [] };
    $('#user-suggestions').replaceChildren(...items.map((u) => el('option', { value: u.email }, u.name || u.email)));
  }));
  for (const input of document.querySelectorAll('input.search:not([data-list="users"])')) {
    input.addEventListener('input', () => {
      view[input.dataset.list] = { search: input.value, page: 0 };
      render();
    });
  }
  $('#usage-days').addEventListener('change', () => act(async () => {}));
  $('#usage-route').addEventListener('change', () => renderUsage());
  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    sessionStorage.setItem('portcullis-admin-token', $('#token').value.trim());
    try {
      await load();
      $('#signin').hidden = true;
      $('#console').hidden = false;
      $('#sign-out').hidden = false;
    } catch (err) {
      sessionStorage.removeItem('portcullis-admin-token');
      $('#signin-error').textContent = err.status === 401 ? 'That token is not valid.' : err.message;
    }
  });
  $('#sign-out').addEventListener('click', () => {
    sessionStorage.removeItem('portcullis-admin-token');
    location.reload();
  });
  const resourceForm = $('#resource-form');
  resourceForm.addEventListener('submit', (e) => submit(e, resourceForm, async () => {
    const f = resourceForm.elements;
    await api('POST', 'resources', {
      name: f.name.value, indicator: f.indicator.value.trim(), default: f.default.checked,
      access_token_ttl_secs: Number(f.access_token_ttl_secs.value),
      access_token_alg: f.access_token_alg.value,
    });
    notice('Resource created.');
  }));
  const roleForm = $('#role-form');
  roleForm.addEventListener('submit', (e) => submit(e, roleForm, async () => {
    const f = roleForm.elements;
    await api('POST', 'roles', { name: f.name.value, description: f.description.value, permissions: checkedValues(roleForm, 'permissions') });
    notice('Role created.');
  }));
  const userForm = $('#user-form');
  userForm.addEventListener('submit', (e) => submit(e, userForm, async () => {
    const f = userForm.elements;
    await api('POST', 'users', {
      email: f.email.value, name: f.name.value, password: f.password.value || null, roles: checkedValues(userForm, 'roles'),
    });
    notice('User created.');
  }));
  const inviteForm = $('#invite-form');
  inviteForm.addEventListener('submit', (e) => submit(e, inviteForm, async () => {
    const f = inviteForm.elements;
    const roles = checkedValues(inviteForm, 'invite-roles');
    const i = await api('POST', 'invitations', { email: f.email.value, ...(roles.length ? { roles } : {}) });
    notice(`Invitation mailed to ${i.email}.`);
  }));
  const clientForm = $('#client-form');
  clientForm.addEventListener('submit', (e) => submit(e, clientForm, async () => {
    const f = clientForm.elements;
    const c = await api('POST', 'clients', {
      name: f.name.value, kind: f.kind.value, first_party: f.first_party.checked, may_introspect: f.may_introspect.checked, dpop_bound_access_tokens: f.dpop_bound_access_tokens.checked,
      ...(f.jwks_uri.value.trim() ? { jwks_uri: f.jwks_uri.value.trim() } : {}),
      ...(f.jwks.value.trim() ? { jwks: parseJwks(f.jwks.value) } : {}),
      redirect_uris: f.redirect_uris.value.split('\n').map((s) => s.trim()).filter(Boolean),
      ...(f.kind.value === 'confidential' ? { roles: checkedValues(clientForm, 'client-roles') } : {}),
    });
    notice(c.client_secret ? `Client ${c.id} created. Its secret (shown once): ${c.client_secret}` : `Client ${c.id} created.`);
  }));
  const keyForm = $('#key-form');
  keyForm.addEventListener('submit', (e) => submit(e, keyForm, async () => {
    const f = keyForm.elements;
    const user = await userByEmail(f.user_email.value);
    if (!user) throw Object.assign(new Error('no user has this email'), { fields: { user: 'no user has this email' } });
    const k = await api('POST', 'api-keys', { user_id: user.id, name: f.name.value, scopes: f.scopes.value });
    notice(`API key created (shown once): ${k.key}`);
  }));
  if (token()) {
    load().then(() => {
      $('#signin').hidden = true;
      $('#console').hidden = false;
      $('#sign-out').hidden = false;
    }).catch(() => sessionStorage.removeItem('portcullis-admin-token'));
  }
}

wire();
