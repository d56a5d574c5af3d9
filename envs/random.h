// The per-environment random stream for reset noise. Deterministic on every
// platform: std::mt19937_64's output is fixed by the C++ standard, and the
// conversions to uniform and normal numbers below are ours (the standard library's
// distributions are implementation-defined). Not thread-safe; one per env.
#ifndef SAC_ENVS_RANDOM_H_
#define SAC_ENVS_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <random>

namespace sac::envs {

class EnvRandom {
 public:
  explicit EnvRandom(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits (as numpy's random()).
  double Uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform in [low, high): low + (high - low) * U[0, 1), as numpy's uniform().
  double Uniform(double low, double high) { return low + (high - low) * Uniform01(); }

  // Standard normal N(0, 1) by the Box-Muller transform (one value per call;
  // 1 - U keeps the logarithm's argument in (0, 1]).
  double Normal() {
    const double u1 = 1.0 - Uniform01();
    const double u2 = Uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace sac::envs

#endif  // SAC_ENVS_RANDOM_H_
