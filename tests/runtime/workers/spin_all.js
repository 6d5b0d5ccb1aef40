// Test tenant whose every request spins for ever (also the synthetic
// request the runtime sends at load to learn the hot set).
export default {
  fetch() {
    for (;;) {}
  },
};
