// The JavaScript floor for `npm run bench`: a Worker that forwards every request to the origin
// with its method, headers and body, and returns the origin's response as it is. Nothing a
// gateway could do costs less, so every proxy configuration is reported as a ratio to this.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const target = new URL(url.pathname + url.search, env.ORIGIN_URL);
    return fetch(target, { method: request.method, headers: request.headers, body: request.body });
  },
};
