// The auditor's in-browser verifier (console page /console/verify, and "check in this browser" on a
// proof page). Everything is computed here, from the files the auditor chose and the keys they pinned,
// with @noble/hashes and @noble/curves (libs/ledger/src/portable-verifier.ts): nothing is sent to the
// service and nothing it says is trusted. Bundled into console/static/verifier.js at build time
// (scripts/bundle-console.js), loaded as a module script: the console's CSP allows no inline script.
import { PortableFormatError, parsePublicKeysText, verifyExportFiles, verifyProofDocument } from '../../libs/ledger/src/portable-verifier';

const MARK = { true: '✔ passed', false: '✘ failed', null: '– not reached' };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** Text of a chosen file; a `.gz` file is unpacked in the page (DecompressionStream). */
async function fileText(file) {
  if (!file.name.endsWith('.gz')) return file.text();
  const stream = file.stream().pipeThrough(new DecompressionStream('gzip'));
  return new Response(stream).text();
}

function renderSteps(out, verdictLine, ok, steps) {
  out.replaceChildren();
  out.append(el('p', { class: ok ? 'verdict ok' : 'verdict bad', role: 'status', id: 'verify-verdict' }, verdictLine));
  const list = el('ol', { class: 'steps', 'aria-label': 'What was checked' });
  for (const s of steps) {
    const state = s.ok === null ? 'skipped' : s.ok ? 'ok' : 'bad';
    const item = el('li', { class: `step step-${state}`, 'data-step': s.id, 'data-state': state }, el('strong', {}, `${MARK[String(s.ok)]}: ${s.title}`), el('p', {}, s.detail));
    if (s.items.length > 0) item.append(el('ul', { class: 'evidence' }, ...s.items.map((i) => el('li', {}, el('code', {}, i)))));
    list.append(item);
  }
  out.append(list);
}

function showError(out, message) {
  out.replaceChildren(el('p', { class: 'verdict bad', role: 'alert', id: 'verify-verdict' }, message));
}

async function pinnedKeys(form) {
  const keysInput = form.querySelector('input[name=keys]');
  const keysFile = keysInput && keysInput.files && keysInput.files[0];
  if (!keysFile) return undefined;
  return parsePublicKeysText(await keysFile.text());
}

/** The auditor's files: an export directory's files (manifest.json among them) or one proof JSON. */
async function verifyChosen(files, form, out) {
  try {
    const keys = await pinnedKeys(form);
    const byName = {};
    for (const f of files) byName[f.name] = await fileText(f);
    if (byName['manifest.json'] !== undefined) {
      const v = verifyExportFiles({ files: byName, publicKeys: keys });
      const line = v.ok
        ? `Export verified: ${v.verified} records of chain ${v.chain} and ${v.checkpointsVerified} signed checkpoints, checked in this browser.`
        : `NOT valid: chain ${v.break.chain}, seq ${v.break.seq}, ${v.break.kind}${v.break.detail ? ` (${v.break.detail})` : ''}.`;
      renderSteps(out, line, v.ok, v.steps);
      return;
    }
    const names = Object.keys(byName);
    const proofName = names.find((n) => n.endsWith('.json') && /"auditPath"/.test(byName[n]));
    if (!proofName) throw new PortableFormatError('choose an export directory (with manifest.json) or a proof JSON file');
    let keyList = keys;
    if (!keyList) {
      const keyName = names.find((n) => n !== proofName && (/publicKeyPem/.test(byName[n]) || /BEGIN PUBLIC KEY/.test(byName[n])));
      if (!keyName) throw new PortableFormatError('a proof is checked with the public key: add your pinned key file');
      keyList = parsePublicKeysText(byName[keyName]);
    }
    showProof(out, JSON.parse(byName[proofName]), keyList);
  } catch (err) {
    showError(out, err instanceof PortableFormatError || err instanceof SyntaxError ? `Cannot check these files: ${err.message}` : 'The check could not be run in this browser.');
  }
}

function showProof(out, doc, keys) {
  const v = verifyProofDocument(doc, keys);
  const line = v.ok
    ? `Proof verified: record ${doc.seq} of chain ${doc.chain} is in the signed tree of size ${doc.checkpoint.treeSize}, checked in this browser.`
    : `NOT valid: ${v.reason}.`;
  renderSteps(out, line, v.ok, v.steps);
}

const form = document.getElementById('verifier');
if (form) {
  const out = document.getElementById('verify-result');
  const zone = document.getElementById('drop-zone');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const files = [...form.querySelectorAll('input[name=files]')].flatMap((i) => [...(i.files || [])]);
    if (files.length === 0) return showError(out, 'Choose the files of an export directory, or a proof JSON and a key.');
    out.replaceChildren(el('p', { role: 'status' }, 'Checking in this browser…'));
    verifyChosen(files, form, out);
  });
  if (zone) {
    zone.addEventListener('dragover', (ev) => {
      ev.preventDefault();
      zone.classList.add('over');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (ev) => {
      ev.preventDefault();
      zone.classList.remove('over');
      const files = [...(ev.dataTransfer ? ev.dataTransfer.files : [])];
      if (files.length > 0) verifyChosen(files, form, out);
    });
  }
}

// A proof page: the proof and the keys the service gave, checked here; a pinned key can replace them.
const proofButton = document.getElementById('check-proof');
if (proofButton) {
  const out = document.getElementById('proof-result');
  proofButton.addEventListener('click', async () => {
    try {
      const doc = JSON.parse(document.getElementById('proof-data').textContent);
      const pinnedInput = document.getElementById('proof-key');
      const pinned = pinnedInput && pinnedInput.files && pinnedInput.files[0];
      const keys = pinned ? parsePublicKeysText(await pinned.text()) : parsePublicKeysText(document.getElementById('keys-data').textContent);
      showProof(out, doc, keys);
    } catch (err) {
      showError(out, err instanceof PortableFormatError ? `Cannot check: ${err.message}` : 'The check could not be run in this browser.');
    }
  });
}
