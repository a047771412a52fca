// The plugin the benchmarks run: the demo's, without a quota, so the proxy figures measure
// routing and token verification only.
export const benchPlugin = {
  name_for_human: 'Todo Demo',
  name_for_model: 'todo_demo',
  description_for_human: 'Keep a simple todo list.',
  description_for_model: "Read and manage the signed-in user's todo list.",
  logo_url: '/logo.svg',
  contact_email: 'support@example.com',
  legal_info_url: 'https://example.com/legal',
  openapi_path: '/openapi.json',
  auth: { type: 'oauth', scope: 'todos:read todos:write' },
  routes: [
    { path: '/todos', methods: ['GET'], scopes: ['todos:read'] },
    { path: '/public/*', access: 'public' },
  ],
};
