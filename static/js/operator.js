// The phone operator's screen: Enter registers the call (Shift+Enter: a new line in the question), the
// category the question's words suggest is chosen until the operator picks one, and the live queue refreshes.
const $ = (id) => document.getElementById(id);
const form = $("call-form");
const csrf = form.elements.csrf_token.value;

// Enter in any field of the call form registers it (a checkbox or a select would not submit on its own)
form.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.target.tagName === "BUTTON") return;
  e.preventDefault();
  form.requestSubmit();
});
let sent = false;
form.addEventListener("submit", (e) => {  // one call, one appeal: a second Enter while it is sent does nothing
  if (sent) e.preventDefault();
  sent = true;
});

const category = $("o-category");
let chosenByHand = category.value !== "";
category.addEventListener("change", () => { chosenByHand = true; $("o-suggested").textContent = ""; });
let timer = null;
$("o-text").addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (chosenByHand) return;
    const response = await fetch(form.dataset.suggest || "/operator/suggest", {
      method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ text: $("o-text").value }),
    }).catch(() => null);
    if (!response || !response.ok || chosenByHand) return;
    const { category_id: id } = await response.json();
    category.value = id ? String(id) : "";
    $("o-suggested").textContent = id ? (category.dataset.suggested || "") : "";
  }, 400);
});

const queue = $("queue");
const wasLive = Boolean($("queue-list"));
async function refresh() {
  const response = await fetch(queue.dataset.url, { headers: { Accept: "application/json" } }).catch(() => null);
  if (!response || !response.ok) return;
  const live = await response.json();
  if (live.live !== wasLive) {
    const changed = $("queue-changed") || $("queue-none");
    if (changed) { changed.hidden = false; changed.textContent = queue.dataset.changed; }
    return;
  }
  if (!live.live) return;
  $("queue-onair").textContent = live.on_air ? live.on_air.text : "—";
  $("queue-list").replaceChildren(...live.queued.map((q) => {
    const li = document.createElement("li");
    li.textContent = q.text;
    return li;
  }));
  const empty = $("queue-empty");
  if (empty) empty.hidden = live.queued.length > 0;
}
setInterval(refresh, 10000);
