# The sac-learner process (included by the root CMakeLists after learner/):
# the policy service, the evaluator, the training loop and the binary.
add_library(sac_learner_process STATIC
  ${CMAKE_SOURCE_DIR}/learner/policy_service.cc
  ${CMAKE_SOURCE_DIR}/learner/evaluator.cc
  ${CMAKE_SOURCE_DIR}/learner/trainer.cc)
target_link_libraries(sac_learner_process PUBLIC sac_learner_core sac_actor_policy sac_envs
  sac_replay_client sac_common)
sac_warnings(sac_learner_process)
add_executable(sac-learner ${CMAKE_SOURCE_DIR}/learner/learner_main.cc)
target_link_libraries(sac-learner PRIVATE sac_learner_process)
sac_warnings(sac-learner)
sac_test(learner_policy_consistency_test
  SOURCES ${CMAKE_SOURCE_DIR}/learner/policy_consistency_test.cc
  LIBS sac_learner_core sac_actor_policy sac_testing)
