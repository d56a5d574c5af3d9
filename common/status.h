// Status helpers used everywhere: absl::Status / StatusOr with early-return macros,
// and the one bridge between absl::Status and grpc::Status (both use the canonical
// codes, so the mapping is 1:1 and messages pass through unchanged).
#ifndef SAC_COMMON_STATUS_H_
#define SAC_COMMON_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sac {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// Prefixes the message of a non-OK status with `context + ": "`; OK passes through.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace sac

#define SAC_STATUS_CONCAT_INNER_(a, b) a##b
#define SAC_STATUS_CONCAT_(a, b) SAC_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status sac_status_ = (expr);       \
    if (!sac_status_.ok()) return sac_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` assigns a StatusOr's value or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  SAC_ASSIGN_OR_RETURN_IMPL_(SAC_STATUS_CONCAT_(sac_statusor_, __LINE__), lhs, expr)
// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration, `statusor` a name declared
#define SAC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)
#endif  // SAC_COMMON_STATUS_H_
