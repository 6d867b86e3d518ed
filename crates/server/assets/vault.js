// Bot-Mox vault: seal a secret in the browser before it is posted (the Secrets page).
//
// HPKE (RFC 9180) in base mode with DHKEM(P-256, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM,
// the same suite the Rust side uses (the `hpke` crate in botmox_client::vault), built from
// WebCrypto's ECDH, HMAC and AES-GCM. Associated data, info and key ids follow
// botmox_proto::vault. The form's value field has no name, so the plaintext is never sent:
// only the envelopes (recipient, key id, enc, ciphertext) go to the server.
(() => {
  const te = new TextEncoder();
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };
  const i2osp = (n, len) => {
    const out = new Uint8Array(len);
    for (let i = len - 1; i >= 0; i--, n >>= 8) out[i] = n & 0xff;
    return out;
  };
  const b64 = (bytes) => btoa(String.fromCharCode(...bytes));
  const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

  // Suite identifiers (RFC 9180 §7): KEM 0x0010, KDF 0x0001, AEAD 0x0002.
  const KEM_SUITE = concat(te.encode("KEM"), i2osp(0x0010, 2));
  const HPKE_SUITE = concat(te.encode("HPKE"), i2osp(0x0010, 2), i2osp(0x0001, 2), i2osp(0x0002, 2));
  const INFO = te.encode("botmox-vault-v1");

  const hmac = async (key, data) => {
    // An empty salt is HashLen zero bytes (RFC 5869 §2.2), which HMAC treats alike.
    const raw = key.length ? key : new Uint8Array(32);
    const k = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
  };
  // LabeledExtract and LabeledExpand (RFC 9180 §4); every output here is at most 32 bytes,
  // one HKDF-Expand block (RFC 5869 §2.3).
  const labeledExtract = (suite, salt, label, ikm) =>
    hmac(salt, concat(te.encode("HPKE-v1"), suite, te.encode(label), ikm));
  const labeledExpand = async (suite, prk, label, info, len) => {
    const labeled = concat(i2osp(len, 2), te.encode("HPKE-v1"), suite, te.encode(label), info);
    return (await hmac(prk, concat(labeled, new Uint8Array([1])))).slice(0, len);
  };

  // Encap (RFC 9180 §4.1): an ephemeral key, DH with the recipient, ExtractAndExpand.
  const encap = async (recipientRaw) => {
    const curve = { name: "ECDH", namedCurve: "P-256" };
    const pkR = await crypto.subtle.importKey("raw", recipientRaw, curve, false, []);
    const eph = await crypto.subtle.generateKey(curve, true, ["deriveBits"]);
    const dh = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: pkR }, eph.privateKey, 256));
    const enc = new Uint8Array(await crypto.subtle.exportKey("raw", eph.publicKey));
    const prk = await labeledExtract(KEM_SUITE, new Uint8Array(), "eae_prk", dh);
    const shared = await labeledExpand(KEM_SUITE, prk, "shared_secret", concat(enc, recipientRaw), 32);
    return { enc, shared };
  };

  // KeySchedule in base mode (RFC 9180 §5.1) and the first Seal (§5.2: sequence 0, so the
  // nonce is base_nonce itself).
  const seal = async (recipientRaw, aad, plaintext) => {
    const { enc, shared } = await encap(recipientRaw);
    const empty = new Uint8Array();
    const pskIdHash = await labeledExtract(HPKE_SUITE, empty, "psk_id_hash", empty);
    const infoHash = await labeledExtract(HPKE_SUITE, empty, "info_hash", INFO);
    const context = concat(new Uint8Array([0]), pskIdHash, infoHash);
    const secret = await labeledExtract(HPKE_SUITE, shared, "secret", empty);
    const key = await labeledExpand(HPKE_SUITE, secret, "key", context, 32);
    const nonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
    const aes = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, aes, plaintext);
    return { enc: b64(enc), ciphertext: b64(new Uint8Array(ct)) };
  };

  // What the ciphertext is bound to (botmox_proto::vault::aad).
  const aadOf = (tenant, id, field) => te.encode(`botmox-vault-v1\n${tenant}\n${id}\n${field}`);

  const sealForm = async (form) => {
    const id = form.dataset.secretId || crypto.randomUUID();
    const field = (form.dataset.field || form.elements.field.value).trim();
    const value = form.querySelector(".vault-value");
    const chosen = [...form.querySelectorAll(".vault-recipient:checked")];
    if (chosen.length === 0) {
      throw new Error("Choose at least one recipient.");
    }
    const aad = aadOf(form.dataset.tenant, id, field);
    const plaintext = te.encode(value.value);
    const envelopes = [];
    for (const box of chosen) {
      const sealed = await seal(unb64(box.dataset.publicKey), aad, plaintext);
      envelopes.push({ recipient: box.value, key_id: box.dataset.keyId, ...sealed });
    }
    if (form.elements.id) {
      form.elements.id.value = id;
    }
    form.elements.envelopes.value = JSON.stringify(envelopes);
    value.value = "";
  };

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.classList || !form.classList.contains("vault-seal")) {
      return;
    }
    event.preventDefault();
    sealForm(form).then(
      () => form.submit(),
      (e) => window.alert(`Could not seal the secret: ${e.message}`),
    );
  });
})();
