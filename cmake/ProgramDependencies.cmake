# The packages the tandem program (src/cli) and the examples that use the same
# libraries need, none of which the library itself needs. Each one found
# becomes a global imported target; TANDEM_PROGRAM_MISSING lists the Debian
# packages of those that are not there, so that a machine with only the build
# tools and cereal still builds the library, its tests and the other examples.
#
#   CLI11::CLI11              libcli11-dev        arguments
#   fmt::fmt                  libfmt-dev          tables
#   nlohmann_json::nlohmann_json  nlohmann-json3-dev  the JSON report
#   PkgConfig::TANDEM_HTTPLIB libcpp-httplib-dev  the local HTTP server and its clients
#   PkgConfig::TANDEM_FFTW    libfftw3-dev        spectrograms
#   PkgConfig::TANDEM_SNDFILE libsndfile1-dev     WAV files
set(TANDEM_PROGRAM_MISSING "")

find_package(CLI11 CONFIG QUIET GLOBAL)
if(NOT CLI11_FOUND)
  list(APPEND TANDEM_PROGRAM_MISSING libcli11-dev)
endif()
find_package(fmt CONFIG QUIET GLOBAL)
if(NOT fmt_FOUND)
  list(APPEND TANDEM_PROGRAM_MISSING libfmt-dev)
endif()
find_package(nlohmann_json CONFIG QUIET GLOBAL)
if(NOT nlohmann_json_FOUND)
  list(APPEND TANDEM_PROGRAM_MISSING nlohmann-json3-dev)
endif()

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(TANDEM_HTTPLIB QUIET IMPORTED_TARGET GLOBAL cpp-httplib)
  pkg_check_modules(TANDEM_FFTW QUIET IMPORTED_TARGET GLOBAL fftw3)
  pkg_check_modules(TANDEM_SNDFILE QUIET IMPORTED_TARGET GLOBAL sndfile)
endif()
if(NOT TANDEM_HTTPLIB_FOUND)
  list(APPEND TANDEM_PROGRAM_MISSING libcpp-httplib-dev)
endif()
if(NOT TANDEM_FFTW_FOUND)
  list(APPEND TANDEM_PROGRAM_MISSING libfftw3-dev)
endif()
if(NOT TANDEM_SNDFILE_FOUND)
  list(APPEND TANDEM_PROGRAM_MISSING libsndfile1-dev)
endif()
if(NOT PkgConfig_FOUND)
  list(APPEND TANDEM_PROGRAM_MISSING pkg-config)
endif()
