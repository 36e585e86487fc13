// A form button that changes something for everyone (ending a broadcast) asks first: `data-confirm` names a
// <dialog> whose form has the button that goes on (value "yes") and Cancel, focused, so a stray Enter or a
// double click changes nothing. Without scripts the button submits as it is.
for (const button of document.querySelectorAll("button[data-confirm]")) {
  const dialog = document.getElementById(button.dataset.confirm);
  if (!dialog || !button.form) continue;
  let confirmed = false;
  button.addEventListener("click", (event) => {
    if (confirmed) return;  // the confirmed submission below
    event.preventDefault();
    dialog.returnValue = "";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "yes") { button.focus(); return; }
    confirmed = true;
    button.form.requestSubmit(button);
  });
}
