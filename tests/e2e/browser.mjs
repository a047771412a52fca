// A minimal cookie-keeping browser over fetch: enough to walk the portal's HTML forms the way a
// browser without JavaScript would (pages are tested in real Chromium in portal.test.mjs).

export class FormBrowser {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.cookies = new Map();
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  remember(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const [name, value] = pair.split('=');
      if (attrs.some((a) => a.trim().toLowerCase() === 'max-age=0')) this.cookies.delete(name.trim());
      else this.cookies.set(name.trim(), value);
    }
  }

  async request(url, init = {}) {
    const target = new URL(url, this.baseUrl);
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', this.cookieHeader());
    const res = await fetch(target, { ...init, headers, redirect: 'manual' });
    this.remember(res);
    res.text_ = await res.text();
    return res;
  }

  get(url) {
    return this.request(url);
  }

  post(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

/** Hidden and named inputs of the first form posting to `action`, as a field map. */
export function formFields(html, action) {
  const start = html.indexOf(`action="${action}"`);
  if (start < 0) throw new Error(`no form for ${action} in:\n${html}`);
  const form = html.slice(start, html.indexOf('</form>', start));
  const fields = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[m[1]] = decodeEntities(m[2]);
  }
  return fields;
}

function decodeEntities(s) {
  return s.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

/** Signs in through the login form the authorize endpoint shows; returns the next response. */
export async function signIn(browser, loginPage, email, password) {
  const fields = formFields(loginPage.text_, '/login');
  return browser.post('/login', { ...fields, email, password });
}

/**
 * Allows (or denies) on the consent page; returns the redirect response. When the user already
 * allowed this client these scopes, the gateway sent the browser straight back (remembered
 * consent): that redirect is the answer to "allow".
 */
export async function decide(browser, consentPage, decision = 'allow') {
  if (consentPage.status === 302) {
    if (decision !== 'allow') throw new Error('no consent page to deny on: the consent was remembered (ask with prompt=consent)');
    return consentPage;
  }
  const fields = formFields(consentPage.text_, '/authorize');
  return browser.post('/authorize', { ...fields, decision });
}
