# buddy_mpi_app_test(NAME RANKS RANKS_PER_NODE ROUTING MODE STATUS REGEX [also REGEX2]...
#                    COMMAND...): COMMAND run under buddy-run (-n RANKS, --ranks-per-node,
# --routing, and --mode MODE unless MODE is "inline") must exit with STATUS and print a line
# matching REGEX and one matching each REGEX2. Uses tests/msg/check_run.sh and the same test
# environment as the buddy::msg tests (Open MPI leak suppressions, plugins kept loaded).
# Labels: apps;mpi (and "offload" for MODE offload).
set(BUDDY_CHECK_RUN ${PROJECT_SOURCE_DIR}/tests/msg/check_run.sh)
set(BUDDY_MPI_TEST_ENV
    "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/msg/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0"
    "OMPI_MCA_mca_base_component_disable_dlclose=1"
    "PMIX_MCA_mca_base_component_disable_dlclose=1")

# buddy_check_run_split(ARGS_VAR OPTS_VAR): moves the leading check_run.sh options of the list
# ARGS_VAR ("one-line", "also REGEX") into OPTS_VAR; ARGS_VAR keeps the command after them. A
# command with --json gets "json" too: every JSON line it prints must parse.
macro(buddy_check_run_split args_var opts_var)
  set(${opts_var})
  if("--json" IN_LIST ${args_var})
    list(APPEND ${opts_var} json)
  endif()
  while(TRUE)
    list(GET ${args_var} 0 _buddy_first)
    if(_buddy_first STREQUAL "one-line")
      list(APPEND ${opts_var} one-line)
      list(REMOVE_AT ${args_var} 0)
    elseif(_buddy_first STREQUAL "also")
      list(GET ${args_var} 1 _buddy_also)
      list(APPEND ${opts_var} also ${_buddy_also})
      list(REMOVE_AT ${args_var} 0 1)
    else()
      break()
    endif()
  endwhile()
endmacro()

function(buddy_mpi_app_test name ranks rpn routing mode status regex)
  set(cmd ${ARGN})
  buddy_check_run_split(cmd opts)
  set(run_opts -n ${ranks} --ranks-per-node ${rpn} --routing ${routing})
  set(labels "apps;mpi")
  if(NOT mode STREQUAL "inline")
    list(APPEND run_opts --mode ${mode})
    list(APPEND labels ${mode})
  endif()
  add_test(NAME ${name}
           COMMAND ${BUDDY_CHECK_RUN} ${status} ${regex} ${opts} -- $<TARGET_FILE:buddy-run>
                   ${run_opts} -- ${cmd})
  if(ranks GREATER 2)
    set(procs 2)
  else()
    set(procs ${ranks})
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${labels}" TIMEOUT 300 PROCESSORS ${procs}
                       ENVIRONMENT "${BUDDY_MPI_TEST_ENV}")
endfunction()

# buddy_matrix_entry(TEST CONFIG KEEP...): in a matrix of layouts (ranks, ranks per node,
# routing, mode) each configuration runs the same code paths; TEST gets the label "matrix"
# unless CONFIG is one of the representative configurations KEEP. The release tree runs every
# entry; the sanitizer trees (./buddy test) skip the label and run the representatives.
function(buddy_matrix_entry test config)
  if(NOT config IN_LIST ARGN)
    set_property(TEST ${test} APPEND PROPERTY LABELS matrix)
  endif()
endfunction()

# buddy_app_arg_test(NAME REGEX COMMAND...): COMMAND alone (no mpirun) must exit 2 with exactly
# one line of output matching REGEX.
function(buddy_app_arg_test name regex)
  add_test(NAME ${name} COMMAND ${BUDDY_CHECK_RUN} 2 ${regex} one-line -- ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS apps TIMEOUT 60 ENVIRONMENT
                       "${BUDDY_MPI_TEST_ENV}")
endfunction()
