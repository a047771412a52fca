#!/usr/bin/env node
// A local stand-in for the parts of Stripe the gateway uses, for the demo and the tests: the API
// (`POST /v1/checkout/sessions`, `POST /v1/billing_portal/sessions`, with Bearer API keys and
// form bodies, errors in Stripe's `{error: {message}}` shape), a test checkout page ("Pay" makes
// a customer and an active subscription) and a billing portal page ("Cancel" ends it), and signed
// webhook deliveries to the gateway (`Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.body")`),
// as Stripe sends them. Nothing leaves 127.0.0.1.
//
//   PORT=12111 WEBHOOK_URL=http://127.0.0.1:8787/billing/stripe/webhook WEBHOOK_SECRET=whsec_… \
//   API_KEY=sk_test_… PRICES=price_pro node demo/stripe-stand-in.mjs
import { createHmac, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const id = (prefix) => `${prefix}_${randomBytes(12).toString('hex')}`;
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The signature header Stripe would send for `body` at `t`. */
export function stripeSignature(secret, t, body) {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/**
 * Starts the stand-in. `webhookUrl` may be set later (`standIn.webhookUrl = …`); `prices` are the
 * price ids it sells. `sent` lists every delivery (body, signature, status) for tests to replay;
 * `down = true` makes the API hang (Stripe unreachable).
 */
export async function startStripeStandIn({ port = 0, webhookUrl, webhookSecret, apiKey, prices }) {
  const sessions = new Map();
  const portals = new Map();
  const subscriptions = new Map();
  const state = { webhookUrl, down: false, sent: [] };
  let base = '';

  async function deliver(type, object, created = Math.floor(Date.now() / 1000)) {
    const body = JSON.stringify({ id: id('evt'), object: 'event', api_version: '2025-03-31.basil', type, created, livemode: false, data: { object } });
    const signature = stripeSignature(webhookSecret, Math.floor(Date.now() / 1000), body);
    const res = await fetch(state.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature }, body });
    const answer = await res.text();
    state.sent.push({ type, body, signature, status: res.status, answer });
    return res.status;
  }

  function subscriptionObject(sub) {
    return {
      id: sub.id, object: 'subscription', customer: sub.customer, status: sub.status, metadata: sub.metadata,
      items: { object: 'list', data: [{ id: id('si'), price: { id: sub.price, object: 'price' }, current_period_end: sub.periodEnd }] },
    };
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    const json = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const html = (status, body) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>Stripe stand-in</title><main>${body}</main>`);
    };
    const redirect = (to) => {
      res.writeHead(303, { location: to });
      res.end();
    };
    let m0;
    if (url.pathname.startsWith('/v1/')) {
      if (state.down) return; // Never answers.
      if (req.headers.authorization !== `Bearer ${apiKey}`) return json(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    }
    if (url.pathname === '/v1/checkout/sessions' && req.method === 'POST') {
      const price = form.get('line_items[0][price]');
      if (form.get('mode') !== 'subscription') return json(400, { error: { type: 'invalid_request_error', message: 'mode must be subscription here' } });
      if (!prices.includes(price)) return json(400, { error: { type: 'invalid_request_error', message: `No such price: '${price}'` } });
      const metadata = {};
      for (const [k, v] of form) {
        const m = k.match(/^subscription_data\[metadata\]\[(.+)\]$/);
        if (m) metadata[m[1]] = v;
      }
      const session = {
        id: id('cs_test'), price, metadata, customer: form.get('customer'), email: form.get('customer_email'),
        clientReferenceId: form.get('client_reference_id'), successUrl: form.get('success_url'), cancelUrl: form.get('cancel_url'),
        sessionMetadata: Object.fromEntries([...form].filter(([k]) => k.startsWith('metadata[')).map(([k, v]) => [k.slice(9, -1), v])),
      };
      sessions.set(session.id, session);
      return json(200, { id: session.id, object: 'checkout.session', mode: 'subscription', url: `${base}/checkout/${session.id}` });
    }
    m0 = url.pathname.match(/^\/v1\/subscriptions\/([^/]+)$/);
    if (m0 && req.method === 'GET') {
      const sub = subscriptions.get(m0[1]);
      if (!sub) return json(404, { error: { type: 'invalid_request_error', message: `No such subscription: '${m0[1]}'` } });
      return json(200, subscriptionObject(sub));
    }
    if (url.pathname === '/v1/billing_portal/sessions' && req.method === 'POST') {
      const portal = { id: id('bps'), customer: form.get('customer'), returnUrl: form.get('return_url') };
      portals.set(portal.id, portal);
      return json(200, { id: portal.id, object: 'billing_portal.session', url: `${base}/portal/${portal.id}` });
    }
    let m = url.pathname.match(/^\/checkout\/([^/]+)(\/pay)?$/);
    if (m) {
      const session = sessions.get(m[1]);
      if (!session) return html(404, '<p>No such checkout.</p>');
      if (!m[2]) {
        return html(200, `<h1>Test checkout</h1><p>${escape(session.price)} for ${escape(session.email ?? session.customer)}</p><form method="post" action="/checkout/${session.id}/pay"><button type="submit" id="pay">Pay with a test card</button></form><p><a href="${escape(session.cancelUrl)}">Cancel</a></p>`);
      }
      const customer = session.customer ?? id('cus_test');
      const sub = { id: id('sub_test'), customer, status: 'active', price: session.price, metadata: session.metadata, periodEnd: Math.floor(Date.now() / 1000) + 30 * 86400 };
      subscriptions.set(sub.id, sub);
      await deliver('customer.subscription.created', subscriptionObject(sub));
      await deliver('checkout.session.completed', {
        id: session.id, object: 'checkout.session', mode: 'subscription', status: 'complete', payment_status: 'paid',
        client_reference_id: session.clientReferenceId, customer, subscription: sub.id, metadata: session.sessionMetadata,
      });
      return redirect(session.successUrl);
    }
    m = url.pathname.match(/^\/portal\/([^/]+)(?:\/cancel\/([^/]+))?$/);
    if (m) {
      const portal = portals.get(m[1]);
      if (!portal) return html(404, '<p>No such portal session.</p>');
      const mine = [...subscriptions.values()].filter((s) => s.customer === portal.customer && s.status !== 'canceled');
      if (!m[2]) {
        const rows = mine.map((s) => `<li>${escape(s.price)} (${escape(s.status)}) <form method="post" action="/portal/${portal.id}/cancel/${s.id}"><button type="submit" class="cancel">Cancel subscription</button></form></li>`).join('');
        return html(200, `<h1>Billing</h1><ul>${rows}</ul><p><a href="${escape(portal.returnUrl)}">Return</a></p>`);
      }
      const sub = subscriptions.get(m[2]);
      if (!sub || sub.customer !== portal.customer) return html(404, '<p>No such subscription.</p>');
      sub.status = 'canceled';
      await deliver('customer.subscription.deleted', subscriptionObject(sub));
      return redirect(portal.returnUrl);
    }
    json(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${url.pathname})` } });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    state,
    subscriptions,
    /** Sends an event of `type` about `sub` as Stripe would (tests: out of order, failed payments). */
    send: (type, object, created) => deliver(type, object, created),
    subscriptionObject,
    async stop() {
      server.closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const standIn = await startStripeStandIn({
    port: Number(process.env.PORT ?? 12111),
    webhookUrl: process.env.WEBHOOK_URL,
    webhookSecret: process.env.WEBHOOK_SECRET,
    apiKey: process.env.API_KEY,
    prices: (process.env.PRICES ?? '').split(' ').filter(Boolean),
  });
  console.log(`stripe-stand-in: ${standIn.base} (webhooks to ${process.env.WEBHOOK_URL})`);
}
