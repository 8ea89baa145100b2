# Offload mode: the same comm suite and apps under `buddy-run --mode offload`, where app ranks
# only write records into shared-memory rings and buddy-engine processes route them. Included
# from tests/msg/CMakeLists.txt (msg_mpi_test and msg_mpi_suite are defined there).

# Both apps, verified, for every routing and 1, 2 and 4 ranks per node at 4 ranks (the same
# seeds as the inline entries, whose answers the apps check exactly, so both modes give the same
# answer). App ranks never relay in offload mode: "relayed 0" is checked.
set(MSG_RUN_EXTRA --mode offload)
foreach(rpn 1 2 4)
  foreach(routing none nr nlnr)
    foreach(app histogram index-gather)
      msg_mpi_test(msg_offload_app_${app}_4r_rpn${rpn}_${routing} 4 ${rpn} ${routing} 0
                   "\"mode\":\"offload\".*\"verified\":true" also "relayed 0 \\("
                   $<TARGET_FILE:buddy-${app}> ${MSG_APP_ARGS_${app}} --stats)
      buddy_matrix_entry(msg_offload_app_${app}_4r_rpn${rpn}_${routing} rpn${rpn}_${routing}
                         rpn2_nlnr)
    endforeach()
  endforeach()
endforeach()
# 2 ranks on one node (every record ring to ring inside one engine) and 3 ranks as 2 + 1.
msg_mpi_test(msg_offload_app_index-gather_2r_rpn2_none 2 2 none 0 "\"verified\":true"
             $<TARGET_FILE:buddy-index-gather> ${MSG_APP_ARGS_index-gather})
msg_mpi_test(msg_offload_app_histogram_3r_rpn2_nlnr 3 2 nlnr 0 "\"verified\":true"
             $<TARGET_FILE:buddy-histogram> ${MSG_APP_ARGS_histogram})

# The comm suite (its 800 KB records need rings of 2 MiB: a record may use half a ring).
foreach(cfg IN ITEMS "4;2;nlnr" "2;1;none" "4;1;nr")
  list(GET cfg 0 ranks)
  list(GET cfg 1 rpn)
  list(GET cfg 2 routing)
  set(name msg_offload_comm_${ranks}r_rpn${rpn}_${routing})
  msg_mpi_test(${name} ${ranks} ${rpn} ${routing} 0 "PASSED" $<TARGET_FILE:msg_comm_test>)
  set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT BUDDY_RING_KB=2048)
  buddy_matrix_entry(${name} ${ranks}r_rpn${rpn}_${routing} 4r_rpn2_nlnr)
endforeach()
# Two engines per node: records between engines of one node go over MPI, and nlnr routes
# between the engines (relays among engines); a tiny engine buffer and one send in flight.
set(MSG_RUN_EXTRA --mode offload --engines-per-node 2 --engine-buffer-kb 1 --engine-max-sends 1)
msg_mpi_test(msg_offload_comm_4r_rpn2_e2_nlnr 4 2 nlnr 0 "PASSED" $<TARGET_FILE:msg_comm_test>)
set_property(TEST msg_offload_comm_4r_rpn2_e2_nlnr APPEND PROPERTY ENVIRONMENT BUDDY_RING_KB=2048)
foreach(app histogram index-gather)
  msg_mpi_test(msg_offload_app_${app}_4r_rpn2_e2_nlnr 4 2 nlnr 0 "\"verified\":true"
               $<TARGET_FILE:buddy-${app}> ${MSG_APP_ARGS_${app}})
endforeach()
# Small rings (16 KiB): the outbound ring fills (async waits, running handlers) and inbound
# rings fill (the engine holds records back and keeps receiving).
set(MSG_RUN_EXTRA --mode offload --ring-kb 16)
msg_mpi_test(msg_offload_app_index-gather_4r_rpn2_nlnr_ring16k 4 2 nlnr 0 "\"verified\":true"
             $<TARGET_FILE:buddy-index-gather> ${MSG_APP_ARGS_index-gather})
# Engine threads (--engine-threads 2): each engine splits its lanes (rank x channel) between
# two threads, the main one doing all MPI. Both apps and the comm suite at 4 ranks, 1 and 2
# ranks per node, routing none and nlnr. The engine's statistics must show two threads, each
# with its CPU time, and records passed between them (so the threads really shared the work).
set(MSG_ENGINE_THREADS_SEEN
    "\"records_handed\":[1-9][0-9]*,.*\"threads\":2,\"thread_cpu_s\":\\[[0-9.]+,[0-9.]+\\]")
set(MSG_RUN_EXTRA --mode offload --engine-threads 2 --engine-stats)
foreach(rpn 1 2)
  foreach(routing none nlnr)
    foreach(app histogram index-gather)
      msg_mpi_test(msg_offload_app_${app}_4r_rpn${rpn}_${routing}_t2 4 ${rpn} ${routing} 0
                   "\"mode\":\"offload\".*\"verified\":true" also "${MSG_ENGINE_THREADS_SEEN}"
                   $<TARGET_FILE:buddy-${app}> ${MSG_APP_ARGS_${app}})
      buddy_matrix_entry(msg_offload_app_${app}_4r_rpn${rpn}_${routing}_t2 rpn${rpn}_${routing}
                         rpn2_nlnr)
    endforeach()
    set(name msg_offload_comm_4r_rpn${rpn}_${routing}_t2)
    msg_mpi_test(${name} 4 ${rpn} ${routing} 0 "PASSED" also "${MSG_ENGINE_THREADS_SEEN}"
                 $<TARGET_FILE:msg_comm_test>)
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT BUDDY_RING_KB=2048)
    buddy_matrix_entry(${name} rpn${rpn}_${routing} rpn2_nlnr)
  endforeach()
endforeach()
# Three threads over an engine's four lanes (two worker threads hand records to each other, not
# only to the MPI thread) with 16 KiB rings: holdbacks on every thread, handoff queues filling.
set(MSG_RUN_EXTRA --mode offload --engine-threads 3 --ring-kb 16 --engine-stats)
msg_mpi_test(msg_offload_app_index-gather_4r_rpn2_nlnr_ring16k_t3 4 2 nlnr 0
             "\"verified\":true" also "\"threads\":3,\"thread_cpu_s\":\\[[0-9.]+,[0-9.]+,[0-9.]+\\]"
             $<TARGET_FILE:buddy-index-gather> ${MSG_APP_ARGS_index-gather})
unset(MSG_RUN_EXTRA)

# kill -9 of the engine, of an app rank or of buddy-run itself (runner), or SIGTERM to buddy-run
# (term: exit status 143) mid-run
# (tests/msg/process_killed.sh): the job ends within seconds with a non-zero status, nothing hangs, and it leaves no process (engines
# included), no buddy segment and no Open MPI shared-memory file of the job in /dev/shm; a dead
# engine is reported on one line by the app ranks.
foreach(who engine rank runner term)
  add_test(NAME msg_offload_${who}_killed
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/process_killed.sh ${who} $<TARGET_FILE:buddy-run>
                   $<TARGET_FILE:buddy-histogram>)
endforeach()
# A segment left by a crashed run under the name this run uses is detected and replaced.
add_executable(msg_stale_segment stale_segment.cpp)
target_link_libraries(msg_stale_segment PRIVATE buddy_msg_transport buddy_options)
add_test(NAME msg_offload_stale_segment_replaced
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/stale_segment.sh $<TARGET_FILE:msg_stale_segment>
                 ${check} $<TARGET_FILE:buddy-run> $<TARGET_FILE:buddy-histogram>
                 ${MSG_APP_ARGS_histogram})
set_tests_properties(msg_offload_engine_killed msg_offload_rank_killed msg_offload_runner_killed
                     msg_offload_term_killed
                     msg_offload_stale_segment_replaced PROPERTIES
                     LABELS "msg;mpi" TIMEOUT 120 PROCESSORS 2 ENVIRONMENT "${MSG_TEST_ENV}")

# Bad input: one line, non-zero status.
add_test(NAME msg_bad_mode_env COMMAND ${check} 2 "^buddy-histogram: BUDDY_MODE: unknown value 'fast'"
         one-line -- env BUDDY_MODE=fast $<TARGET_FILE:buddy-histogram>)
add_test(NAME msg_bad_run_mode COMMAND ${check} 2 "^buddy-run: --mode: .*offload" one-line --
         $<TARGET_FILE:buddy-run> -n 2 --mode fast -- $<TARGET_FILE:buddy-histogram>)
add_test(NAME msg_bad_ring_env COMMAND ${check} 2 "^buddy-run: .*BUDDY_RING_KB" one-line --
         env BUDDY_RING_KB=100 $<TARGET_FILE:buddy-run> -n 2 --mode offload --
         $<TARGET_FILE:buddy-histogram>)
add_test(NAME msg_bad_engine_threads COMMAND ${check} 2 "^buddy-engine: --threads: Value 0 not in range"
         one-line -- $<TARGET_FILE:buddy-engine> --threads 0)
# A cpu this machine does not have (4095: the largest a cpu list takes).
add_test(NAME msg_bad_engine_cpus COMMAND ${check} 2
         "^buddy-engine: --cpus: cpu 4095 does not exist here \\(usable cpus: [0-9,-]+\\)$"
         one-line -- $<TARGET_FILE:buddy-engine> --cpus 0,4095)
add_test(NAME msg_bad_engine_cpus_empty COMMAND ${check} 2 "^buddy-engine: --cpus: an empty cpu list"
         one-line -- $<TARGET_FILE:buddy-engine> --cpus "")
add_test(NAME msg_bad_engine_standalone COMMAND ${check} 2 "^buddy-engine: start it with buddy-run"
         one-line -- $<TARGET_FILE:buddy-engine>)
set_tests_properties(msg_bad_mode_env msg_bad_run_mode msg_bad_ring_env msg_bad_engine_threads
                     msg_bad_engine_cpus msg_bad_engine_cpus_empty msg_bad_engine_standalone PROPERTIES LABELS msg ENVIRONMENT "${MSG_TEST_ENV}")

# Offload without an engine in the job (the app started directly): one clear line, not a hang.
add_test(NAME msg_offload_without_engine
         COMMAND ${check} nonzero "BUDDY_MODE=offload, but no buddy-engine runs in this MPI job"
                 -- env BUDDY_MODE=offload $<TARGET_FILE:buddy-histogram> --updates 10)
# buddy-run's command: inline mode exactly as before; offload appends nodes x E engines.
add_test(NAME msg_run_inline_command_unchanged
         COMMAND ${check} 0 "^[^ ]*mpirun -q --oversubscribe --bind-to none --mca btl self,vader --mca pml ob1 --mca mpi_yield_when_idle 1 -x BUDDY_RANKS_PER_NODE -np 4 [^ ]*buddy-histogram --json$"
                 one-line -- $<TARGET_FILE:buddy-run> -n 4 --ranks-per-node 2 --dry-run --
                 $<TARGET_FILE:buddy-histogram> --json)
add_test(NAME msg_run_offload_command
         COMMAND ${check} 0 "-x BUDDY_MODE .*-np 4 [^ ]*buddy-histogram --json : -np 4 [^ ]*buddy-engine( --cpus [0-9,]+)? --buffer-kb 8 --max-sends 2 --stats$"
                 one-line -- $<TARGET_FILE:buddy-run> -n 4 --ranks-per-node 2 --mode offload
                 --engines-per-node 2 --engine-buffer-kb 8 --engine-max-sends 2 --engine-stats
                 --dry-run -- $<TARGET_FILE:buddy-histogram> --json)
# --engine-threads reaches every engine.
add_test(NAME msg_run_offload_command_threads
         COMMAND ${check} 0 ": -np 2 [^ ]*buddy-engine( --cpus [0-9,]+)? --threads 2$"
                 one-line -- $<TARGET_FILE:buddy-run> -n 4 --ranks-per-node 2 --mode offload
                 --engine-threads 2 --dry-run -- $<TARGET_FILE:buddy-histogram> --json)
set_tests_properties(msg_offload_without_engine msg_run_inline_command_unchanged
                     msg_run_offload_command msg_run_offload_command_threads PROPERTIES LABELS msg ENVIRONMENT "${MSG_TEST_ENV}"
                     TIMEOUT 60)
