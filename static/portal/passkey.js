// Passkeys on the portal's pages: the sign-in page and the account page. The server puts the
// ceremony's options in the page (<script type="application/json" id="passkey-options">) and a
// form marked data-passkey="sign-in" or "register", hidden until this script shows it. The
// credential the browser makes is posted in that form (field "credential", its toJSON()), with
// the form's CSRF token and sealed ceremony state: a plain form POST, so the server answers with
// a page as for every other form. Without JavaScript, or WebAuthn, the forms stay hidden and the
// rest of the page works as before.
(function () {
  "use strict";
  var form = document.querySelector("form[data-passkey]");
  var optionsNode = document.getElementById("passkey-options");
  if (!form || !optionsNode || !window.PublicKeyCredential || !navigator.credentials) return;
  var options;
  try {
    options = JSON.parse(optionsNode.textContent);
  } catch (e) {
    return;
  }

  function fromB64url(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) {
      var d = { type: c.type, id: fromB64url(c.id) };
      if (c.transports) d.transports = c.transports;
      return d;
    });
  }

  function creationOptions() {
    var o = Object.assign({}, options);
    o.challenge = fromB64url(options.challenge);
    o.user = Object.assign({}, options.user, { id: fromB64url(options.user.id) });
    o.excludeCredentials = descriptors(options.excludeCredentials);
    return o;
  }

  function requestOptions() {
    var o = Object.assign({}, options);
    o.challenge = fromB64url(options.challenge);
    o.allowCredentials = descriptors(options.allowCredentials);
    return o;
  }

  // PublicKeyCredential.toJSON() where the browser has it; the same shape by hand where not.
  function serialize(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    var r = credential.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (typeof r.getTransports === "function") response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      response: response,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults()
        : {},
    };
  }

  function post(credential) {
    form.elements.credential.value = JSON.stringify(serialize(credential));
    form.submit();
  }

  function say(text) {
    var note = form.querySelector(".passkey-note");
    if (note) note.textContent = text;
  }

  var pending = null;

  function signIn(mediation) {
    if (pending) pending.abort();
    var controller = new AbortController();
    pending = controller;
    var request = { publicKey: requestOptions(), signal: controller.signal };
    if (mediation) request.mediation = mediation;
    return navigator.credentials.get(request).then(
      function (credential) {
        if (credential) post(credential);
      },
      function (e) {
        if (!mediation && e && e.name !== "AbortError") say("No passkey was used. Try again, or sign in another way.");
      }
    );
  }

  form.hidden = false;
  form.addEventListener("submit", function (event) {
    if (form.elements.credential.value) return;
    event.preventDefault();
    if (form.dataset.passkey === "register") {
      if (pending) pending.abort();
      navigator.credentials.create({ publicKey: creationOptions() }).then(
        function (credential) {
          if (credential) post(credential);
        },
        function () {
          say("No passkey was added.");
        }
      );
    } else {
      signIn(null);
    }
  });

  // The browser's autofill offers passkeys in the email field (autocomplete="username webauthn").
  if (form.dataset.passkey === "sign-in" && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (available) signIn("conditional");
    }, function () {});
  }
})();
