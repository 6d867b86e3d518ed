// Bot-Mox UI helpers. No inline scripts are allowed by the Content-Security-Policy, so
// behaviour is attached here.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
