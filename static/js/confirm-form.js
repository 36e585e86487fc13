// A form button that changes something for everyone (ending a broadcast) asks first: `data-confirm` names a
// <dialog> whose form has the button that goes on (value "yes") and Cancel, focused, so a stray Enter or a
// double click changes nothing. Without scripts the button submits as it is.
for (const button of document.querySelectorAll("button[data-confirm]")) {
  const dialog = document.getElementById(button.dataset.confirm);
  if (!dialog || !button.form) continue;
  // Every click asks, also one while a confirmed submission is still on its way (requestSubmit below
  // fires no click, so the confirmed submission itself is not caught here).
  button.addEventListener("click", (event) => {
    event.preventDefault();
    dialog.returnValue = "";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "yes") { button.focus(); return; }
    button.form.requestSubmit(button);
  });
}
