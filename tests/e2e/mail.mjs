// The mail a local gateway sent, as wrangler dev's local explorer keeps it (the send_email
// binding is simulated: nothing leaves the machine). Its JSON API lists mails newest first and
// gives one's text and HTML by id.

const API = '/cdn-cgi/local/explorer/api/local/email/sending';

/** Every mail sent so far (without bodies), newest first. */
export async function sentMails(baseUrl) {
  const res = await fetch(new URL(`${API}?per_page=100`, baseUrl));
  if (!res.ok) throw new Error(`the local explorer answered ${res.status}`);
  return (await res.json()).result;
}

/** One mail in full: from, to, subject, text, html. */
export async function sentMail(baseUrl, messageId) {
  const url = new URL(API, baseUrl);
  url.searchParams.set('email_id', messageId);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`the local explorer answered ${res.status}`);
  return (await res.json()).result;
}

/**
 * The newest mail to `to` sent after `since` (a count of mails already seen to that address),
 * waiting for it: mail is delivered after the response.
 */
export async function nextMailTo(baseUrl, to, since = 0, { timeoutMs = 15000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mine = (await sentMails(baseUrl)).filter((m) => m.to.includes(to));
    if (mine.length > since) return sentMail(baseUrl, mine[0].messageId);
    if (Date.now() > deadline) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many mails went to `to`. */
export async function mailCount(baseUrl, to) {
  return (await sentMails(baseUrl)).filter((m) => m.to.includes(to)).length;
}

/** The six-digit code a mail's subject starts with. */
export function codeIn(mail) {
  const m = /^(\d{6}) /.exec(mail.subject);
  if (!m) throw new Error(`no code in ${mail.subject}`);
  return m[1];
}

/** The link to `path` a mail's text carries. */
export function linkIn(mail, path) {
  const m = new RegExp(`(https?://[^\\s]+${path.replaceAll('/', '\\/')}\\?token=[A-Za-z0-9_-]+)`).exec(mail.text);
  if (!m) throw new Error(`no ${path} link in:\n${mail.text}`);
  return m[1];
}
