// likeness UI: live status without reloads, face selection, uploads. No build step.
"use strict";

const POLL_MS = 1500;

async function refresh(id, url) {
  const current = document.getElementById(id);
  if (!current) return;
  const response = await fetch(url, { headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const holder = document.createElement("div");
  holder.innerHTML = await response.text();
  const fresh = holder.firstElementChild;
  if (fresh && fresh.outerHTML !== current.outerHTML) {
    current.replaceWith(fresh);
    wire();
  }
}

function fragmentUrl() {
  const panel = document.getElementById("panel");
  if (panel) return ["panel", `/ui/characters/${panel.dataset.characterId}/panel`];
  return ["cards", "/ui/cards"];
}

async function poll() {
  const [id, url] = fragmentUrl();
  const element = document.getElementById(id);
  if (element && element.dataset.live === "yes") await refresh(id, url);
  setTimeout(poll, POLL_MS);
}

// A 422 lists its problems; every other error has one sentence.
function problemText(body, status) {
  if (Array.isArray(body.detail)) return body.detail.map((p) => `${p.loc.slice(1).join(".")}: ${p.msg}`).join("; ");
  return body.detail || `request failed (${status})`;
}

async function selectFace(button) {
  const panel = document.getElementById("panel");
  const response = await fetch(panel.dataset.selectUrl, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ face_id: Number(button.dataset.faceId) }),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    alert(problemText(problem, response.status));
  }
  await refresh(...fragmentUrl());
}

// Keep or remove a reference, then show the references as they are now.
async function referenceAction(url, method, question) {
  if (question && !confirm(question)) return;
  const response = await fetch(url, { method });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    alert(problemText(problem, response.status));
  }
  await refresh(...fragmentUrl());
}

async function submitForm(form, event) {
  event.preventDefault();
  const message = form.querySelector(".form-message");
  message.textContent = "uploading…";
  const response = await fetch(form.dataset.action, { method: form.dataset.method, body: new FormData(form) });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    message.textContent = problemText(body, response.status);
    return;
  }
  message.textContent = "extraction started";
  form.reset();
  const [id, url] = fragmentUrl();
  document.getElementById(id).dataset.live = "yes";
  await refresh(id, url);
}

// One image against the character: shown with each face boxed, its similarity and verdict.
async function checkImage(form, event) {
  event.preventDefault();
  const message = form.querySelector(".form-message");
  message.textContent = "checking…";
  const file = form.querySelector("input[type=file]").files[0];
  const response = await fetch(form.dataset.checkUrl, { method: "POST", body: new FormData(form) });
  const body = await response.json().catch(() => ({}));
  if (response.status !== 200) {
    message.textContent = response.ok ? "still running: see the checks below soon" : problemText(body, response.status);
    return;
  }
  message.textContent = body.message + (body.reference_warning ? ` (${body.reference_warning})` : "");
  const result = document.getElementById("check-result");
  const holder = result.querySelector(".selector");
  const image = holder.querySelector("img");
  holder.querySelectorAll(".face").forEach((box) => box.remove());
  const list = result.querySelector(".verdicts");
  list.replaceChildren();
  image.onload = () => {
    const [width, height] = [image.naturalWidth, image.naturalHeight];
    body.faces.forEach((face) => {
      const b = face.bounding_box;
      const words = face.verdict_words || "no verdict (no thresholds for this model)";
      const box = document.createElement("span");
      box.className = `face verdict-${face.verdict || "none"}`;
      box.style.cssText = `left:${100 * b.x / width}%;top:${100 * b.y / height}%;width:${100 * b.width / width}%;height:${100 * b.height / height}%`;
      box.title = `face ${face.face_index + 1}: ${words}`;
      const label = document.createElement("span");
      label.className = "label";
      label.textContent = `${face.similarity.toFixed(2)} · ${words}`;
      box.append(label);
      holder.append(box);
      const item = document.createElement("li");
      item.textContent = `Face ${face.face_index + 1}: ${words} (similarity ${face.similarity.toFixed(2)})`;
      list.append(item);
    });
  };
  image.src = URL.createObjectURL(file);
  result.hidden = false;
}

function wire() {
  document.querySelectorAll(".face:not([data-wired])").forEach((button) => {
    button.dataset.wired = "1";
    button.addEventListener("click", () => selectFace(button));
  });
  document.querySelectorAll("[data-keep-url]:not([data-wired])").forEach((button) => {
    button.dataset.wired = "1";
    button.addEventListener("click", () => referenceAction(button.dataset.keepUrl, "POST"));
  });
  document.querySelectorAll("[data-remove-url]:not([data-wired])").forEach((button) => {
    button.dataset.wired = "1";
    button.addEventListener("click", () =>
      referenceAction(button.dataset.removeUrl, "DELETE", "Remove this reference and its photo?"));
  });
  document.querySelectorAll(".warning[data-dismiss-key]").forEach((warning) => {
    if (sessionStorage.getItem(warning.dataset.dismissKey)) warning.remove();
    const close = warning.querySelector(".dismiss");
    close.onclick = () => { sessionStorage.setItem(warning.dataset.dismissKey, "1"); warning.remove(); };
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-action]").forEach((form) => {
    form.addEventListener("submit", (event) => submitForm(form, event));
  });
  document.querySelectorAll("form[data-check-url]").forEach((form) => {
    form.addEventListener("submit", (event) => checkImage(form, event));
  });
  wire();
  setTimeout(poll, POLL_MS);
});
