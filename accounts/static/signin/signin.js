// The resend countdown: the button stays disabled until the server would send another code. Without
// JavaScript the button is always there and the server says how long to wait.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("resend");
  var countdown = document.getElementById("countdown");
  var seconds = document.getElementById("seconds");
  if (!button || !countdown || !seconds) return;
  var left = parseInt(button.getAttribute("data-wait"), 10) || 0;
  function tick() {
    if (left <= 0) {
      button.disabled = false;
      countdown.hidden = true;
      return;
    }
    button.disabled = true;
    countdown.hidden = false;
    seconds.textContent = String(left);
    left -= 1;
    window.setTimeout(tick, 1000);
  }
  tick();
});
