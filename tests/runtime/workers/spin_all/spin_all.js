// Test tenant whose every request spins for ever.
export default {
  fetch() {
    for (;;) {}
  },
};
