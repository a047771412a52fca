// The admin console: a thin page over /admin/api/. The token lives in sessionStorage only.
'use strict';

const $ = (selector, root = document) => root.querySelector(selector);
const state = { resources: [], roles: [], users: [], clients: [], keys: [] };

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
  $('#resources tbody').replaceChildren(
    ...state.resources.map((r) =>
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
      ),
    ),
  );
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

  $('#roles tbody').replaceChildren(
    ...state.roles.map((r) => el('tr', { 'data-id': r.id }, el('td', {}, r.name), el('td', {}, r.permissions.map((p) => p.name).join(', ')))),
  );
  const roleChoices = state.roles.map((r) => ({ value: r.id, label: r.name }));
  choices($('[data-choices="roles"]'), roleChoices, 'roles');
  choices($('[data-choices="client-roles"]'), roleChoices, 'client-roles');

  $('#users tbody').replaceChildren(
    ...state.users.map((u) => {
      const roleBox = el('div', { class: 'choices' });
      choices(roleBox, roleChoices, `roles-${u.id}`, u.roles.map((r) => r.id));
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
            ? `Quota of ${u.email}: ${quota.used} of ${quota.limit} used; resets in ${quota.reset_secs} s.`
            : 'No quota is configured for this plugin.');
        }) }, 'Quota')),
        el('td', {}, el('button', { class: 'small', onclick: () => act(async () => {
          await api('PATCH', `users/${u.id}`, { disabled: !u.disabled });
          notice(`${u.email} ${u.disabled ? 'enabled' : 'disabled'}.`);
        }) }, u.disabled ? 'Enable' : 'Disable')),
        identitiesCell(u),
      );
    }),
  );
  $('[data-choices="user-select"]').replaceChildren(...state.users.map((u) => el('option', { value: u.id }, u.email)));

  $('#clients tbody').replaceChildren(
    ...state.clients.map((c) =>
      el('tr', { 'data-id': c.id },
        el('td', {}, c.name),
        el('td', {}, el('code', {}, c.id)),
        el('td', {}, [c.kind, c.token_endpoint_auth_method === 'private_key_jwt' && 'private_key_jwt', c.first_party && 'first party', c.may_introspect && 'resource server', c.registered_via === 'dynamic' && 'self-registered'].filter(Boolean).join(', ')),
        el('td', {}, c.redirect_uris.join('\n')),
        el('td', {}, c.kind === 'confidential' ? clientRoles(c, roleChoices) : ''),
        el('td', {}, c.token_endpoint_auth_method === 'client_secret_basic'
          ? el('button', { class: 'small', onclick: () => act(async () => {
              const r = await api('POST', `clients/${c.id}/secret`);
              notice(`New secret for ${c.name} (shown once): ${r.client_secret}`);
            }) }, 'Rotate secret')
          : ''),
      ),
    ),
  );

  const emails = Object.fromEntries(state.users.map((u) => [u.id, u.email]));
  $('#api-keys tbody').replaceChildren(
    ...state.keys.map((k) =>
      el('tr', { 'data-id': k.id },
        el('td', {}, el('code', {}, `${k.prefix}…`)),
        el('td', {}, emails[k.user_id] ?? k.user_id),
        el('td', {}, k.name),
        el('td', {}, k.scopes),
        el('td', {}, k.revoked_at ? 'revoked' : 'active'),
        el('td', {}, k.revoked_at ? '' : el('button', { class: 'small', onclick: () => act(async () => {
          await api('DELETE', `api-keys/${k.id}`);
          notice('Key revoked.');
        }) }, 'Revoke')),
      ),
    ),
  );
}

async function load() {
  [state.resources, state.roles, state.users, state.clients, state.keys] = await Promise.all(
    ['resources', 'roles', 'users', 'clients', 'api-keys'].map(all),
  );
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
  const clientForm = $('#client-form');
  clientForm.addEventListener('submit', (e) => submit(e, clientForm, async () => {
    const f = clientForm.elements;
    const c = await api('POST', 'clients', {
      name: f.name.value, kind: f.kind.value, first_party: f.first_party.checked, may_introspect: f.may_introspect.checked,
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
    const k = await api('POST', 'api-keys', { user_id: f.user_id.value, name: f.name.value, scopes: f.scopes.value });
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
