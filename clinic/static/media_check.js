// The waiting room's camera and microphone check: a preview of the camera and a level meter for the
// microphone, all inside this browser. Nothing is recorded or sent anywhere, and everything stops when
// the patient presses "Stop the check" or leaves the page. Without JavaScript, or in a browser that
// cannot use the camera here, the page's text explains how to check instead.
(function () {
  "use strict";

  var MESSAGES = {
    NotAllowedError:
      "Your browser was not allowed to use the camera or microphone. Look for a camera symbol near the " +
      "address bar, choose Allow, then press the button again.",
    NotFoundError:
      "No camera or microphone was found. Check that they are plugged in and switched on, or use " +
      "another device such as a phone or tablet.",
    NotReadableError:
      "Another program is using the camera or microphone. Close other video calls, then try again.",
    other:
      "The camera and microphone could not be started. Try again, or use another browser such as " +
      "Chrome, Edge, Firefox or Safari.",
    working:
      "You should see yourself above. Say a few words: the bar should move. If both work, you are ready.",
    unsupported:
      "This browser cannot check the camera and microphone here. Use the advice above instead."
  };
  MESSAGES.SecurityError = MESSAGES.NotAllowedError;
  MESSAGES.OverconstrainedError = MESSAGES.NotFoundError;
  MESSAGES.AbortError = MESSAGES.NotReadableError;

  function levelMeter(stream, meter) {
    var AudioContext = window.AudioContext || window.webkitAudioContext;
    if (!AudioContext || !stream.getAudioTracks().length) {
      return function () {};
    }
    var context = new AudioContext();
    var analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    var samples = new Uint8Array(analyser.fftSize);
    var frame;

    function draw() {
      analyser.getByteTimeDomainData(samples);
      var peak = 0;
      for (var i = 0; i < samples.length; i += 1) {
        peak = Math.max(peak, Math.abs(samples[i] - 128) / 128);
      }
      meter.value = Math.min(1, peak * 2);
      frame = window.requestAnimationFrame(draw);
    }

    draw();
    return function () {
      window.cancelAnimationFrame(frame);
      context.close();
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-media-check]");
    if (!section) {
      return;
    }
    var message = section.querySelector("[data-media-message]");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      message.textContent = MESSAGES.unsupported;
      return;
    }
    var tool = section.querySelector("[data-media-tool]");
    var start = section.querySelector("[data-media-start]");
    var stop = section.querySelector("[data-media-stop]");
    var preview = section.querySelector("[data-media-preview]");
    var level = section.querySelector("[data-media-level]");
    var stream = null;
    var stopMeter = function () {};

    function show(running) {
      // The button pressed hides itself: the focus goes to the one shown in its place, not to <body>.
      var pressed = document.activeElement === (running ? start : stop);
      start.hidden = running;
      stop.hidden = !running;
      preview.hidden = !running;
      level.hidden = !running;
      if (pressed) {
        (running ? stop : start).focus();
      }
    }

    function end() {
      stopMeter();
      stopMeter = function () {};
      if (stream) {
        stream.getTracks().forEach(function (track) {
          track.stop();
        });
        stream = null;
      }
      preview.srcObject = null;
      show(false);
    }

    section.querySelector("[data-media-fallback]").hidden = true;
    tool.hidden = false;
    start.addEventListener("click", function () {
      message.textContent = "Your browser may ask to use the camera and microphone: choose Allow.";
      navigator.mediaDevices.getUserMedia({ video: true, audio: true }).then(
        function (got) {
          stream = got;
          preview.srcObject = got;
          stopMeter = levelMeter(got, level.querySelector("meter"));
          show(true);
          message.textContent = MESSAGES.working;
        },
        function (error) {
          end();
          message.textContent = MESSAGES[error && error.name] || MESSAGES.other;
        }
      );
    });
    stop.addEventListener("click", function () {
      end();
      message.textContent = "";
    });
    window.addEventListener("pagehide", end);
  });
})();
