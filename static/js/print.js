// The talon's Print button (no inline handlers: the page's CSP forbids them).
for (const button of document.querySelectorAll("[data-print]")) button.addEventListener("click", () => window.print());
