# TorchActConfig.cmake — find_package(TorchAct) for LibTorch programs.
#
#   list(APPEND CMAKE_PREFIX_PATH "$(python -m torch_act info --cmake-prefix)")
#   find_package(TorchAct REQUIRED)
#   target_link_libraries(app PRIVATE TorchAct::torch_act)
#
# Defines the imported target TorchAct::torch_act: the op library
# (libtorch_act.so, no Python needed), the public headers (#include
# <torch_act/torch_act.h>) and Torch itself (it finds Torch for you).
# Variables: TorchAct_FOUND, TorchAct_VERSION, TORCH_ACT_INCLUDE_DIRS,
# TORCH_ACT_LIBRARY, TORCH_ACT_WITH_CUDA, TORCH_ACT_TORCH_VERSION.
#
# Finding Torch: CMAKE_PREFIX_PATH / Torch_DIR if set, else the torch beside
# this package (site-packages/torch), else the torch it was built against.
#
# A CUDA build of torch makes find_package(Torch) set up the CUDA language
# and toolkit (nvcc, headers, GPU arch detection): slow, and it fails where
# no toolkit is installed.  A program that only calls torch_act / LibTorch
# from C++ needs none of it: CUDA tensors work at run time through
# libtorch_cuda either way.  TORCH_ACT_CUDA_TOOLKIT (cache: AUTO, ON, OFF):
#   AUTO (default)  set up the toolkit only when the project has enabled the
#                   CUDA language itself (project(... CUDA)), else link Torch
#                   without it;
#   ON              always let Torch set up the toolkit (found from
#                   CUDA_TOOLKIT_ROOT_DIR, $CUDA_HOME, $CUDA_PATH, nvcc on
#                   PATH or /usr/local/cuda): for code that includes torch's
#                   CUDA headers (ATen/cuda/...);
#   OFF             never.
# (If the project calls find_package(Torch) before find_package(TorchAct),
# that call decides and this file leaves Torch alone.)
# Needs CMake >= 3.18 and a C++20 compiler (torch 2.14's headers).

get_filename_component(_TORCH_ACT_PKG "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(TORCH_ACT_INCLUDE_DIRS "${_TORCH_ACT_PKG}/include")
set(TORCH_ACT_LIBRARY "${_TORCH_ACT_PKG}/libtorch_act.so")

include("${CMAKE_CURRENT_LIST_DIR}/TorchActBuild.cmake" OPTIONAL)

if(NOT EXISTS "${TORCH_ACT_INCLUDE_DIRS}/torch_act/torch_act.h" OR NOT EXISTS "${TORCH_ACT_LIBRARY}")
  set(TorchAct_FOUND FALSE)
  set(TorchAct_NOT_FOUND_MESSAGE
      "torch_act in ${_TORCH_ACT_PKG} is not built: ${TORCH_ACT_LIBRARY} or "
      "${TORCH_ACT_INCLUDE_DIRS}/torch_act/torch_act.h is missing.  Build it with "
      "`pip install --no-build-isolation -e .` (or `make build`) in the torch_act source tree.")
  return()
endif()

# ---------------------------------------------------------------- Torch
set(TORCH_ACT_CUDA_TOOLKIT "AUTO" CACHE STRING
    "Set up the CUDA toolkit for a CUDA build of torch: AUTO, ON or OFF (see TorchActConfig.cmake)")
set_property(CACHE TORCH_ACT_CUDA_TOOLKIT PROPERTY STRINGS AUTO ON OFF)

get_property(_ta_langs GLOBAL PROPERTY ENABLED_LANGUAGES)
if(TORCH_ACT_CUDA_TOOLKIT STREQUAL "ON" OR
   (TORCH_ACT_CUDA_TOOLKIT STREQUAL "AUTO" AND "CUDA" IN_LIST _ta_langs))
  set(_ta_use_toolkit TRUE)
else()
  set(_ta_use_toolkit FALSE)
endif()

if(NOT TARGET torch AND NOT TARGET torch::cudart)
  if(_ta_use_toolkit)
    if(NOT CUDA_TOOLKIT_ROOT_DIR)
      set(_ta_candidates "$ENV{CUDA_HOME}" "$ENV{CUDA_PATH}")
      find_program(_TORCH_ACT_NVCC nvcc)
      if(_TORCH_ACT_NVCC)
        get_filename_component(_ta_nvcc_real "${_TORCH_ACT_NVCC}" REALPATH)
        get_filename_component(_ta_nvcc_root "${_ta_nvcc_real}/../.." ABSOLUTE)
        list(APPEND _ta_candidates "${_ta_nvcc_root}")
      endif()
      list(APPEND _ta_candidates "/usr/local/cuda")
      foreach(_ta_c IN LISTS _ta_candidates)
        if(_ta_c AND EXISTS "${_ta_c}/include/cuda.h" AND EXISTS "${_ta_c}/bin/nvcc")
          # FindCUDA (used by torch's config) takes the toolkit from here.
          set(CUDA_TOOLKIT_ROOT_DIR "${_ta_c}" CACHE PATH "CUDA toolkit root")
          break()
        endif()
      endforeach()
    endif()
    # torch's config sets CMAKE_CUDA_STANDARD to CMAKE_CXX_STANDARD (20 for
    # torch 2.14), which CMake < 3.26 cannot give nvcc.
    if(NOT DEFINED CMAKE_CUDA_STANDARD AND CMAKE_VERSION VERSION_LESS 3.26 AND
       CMAKE_CXX_STANDARD GREATER_EQUAL 20)
      set(CMAKE_CUDA_STANDARD 17)
      message(STATUS "TorchAct: CMake ${CMAKE_VERSION} has no CUDA20 for nvcc; CMAKE_CUDA_STANDARD=17")
    endif()
    message(STATUS "TorchAct: Torch sets up the CUDA toolkit (${CUDA_TOOLKIT_ROOT_DIR})")
  else()
    # torch's public/cuda.cmake returns at once when torch::cudart exists:
    # a CUDA torch then links without the toolkit (a CPU torch never looks).
    add_library(torch::cudart INTERFACE IMPORTED)
  endif()
endif()

include(CMakeFindDependencyMacro)
set(_ta_torch_hints "${_TORCH_ACT_PKG}/../torch/share/cmake/Torch")
if(TORCH_ACT_TORCH_CMAKE_DIR)
  list(APPEND _ta_torch_hints "${TORCH_ACT_TORCH_CMAKE_DIR}")
endif()
find_dependency(Torch HINTS ${_ta_torch_hints})

if(TORCH_ACT_TORCH_VERSION AND DEFINED Torch_VERSION)
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" _ta_built "${TORCH_ACT_TORCH_VERSION}")
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" _ta_found "${Torch_VERSION}")
  if(NOT _ta_built STREQUAL _ta_found)
    message(WARNING "TorchAct: built against torch ${TORCH_ACT_TORCH_VERSION} but found Torch "
                    "${Torch_VERSION} (${Torch_DIR}); the op library may fail to load.  "
                    "Point CMAKE_PREFIX_PATH at the torch it was built with.")
  endif()
endif()

# ---------------------------------------------------------------- the target
if(NOT TARGET TorchAct::torch_act)
  add_library(TorchAct::torch_act_library SHARED IMPORTED)
  set_target_properties(TorchAct::torch_act_library PROPERTIES
    IMPORTED_LOCATION "${TORCH_ACT_LIBRARY}"
    IMPORTED_SONAME "libtorch_act.so")

  # The op library is used through its static registrations (TORCH_LIBRARY),
  # which the program never references by symbol: link it with --no-as-needed
  # so it is always loaded (as torch does for libtorch_cpu / libtorch_cuda);
  # the plain target item after it gives CMake the folder for the RPATH.
  add_library(TorchAct::torch_act INTERFACE IMPORTED)
  set_target_properties(TorchAct::torch_act PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${TORCH_ACT_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES
      "-Wl,--no-as-needed,\"$<TARGET_FILE:TorchAct::torch_act_library>\" -Wl,--as-needed;TorchAct::torch_act_library;torch"
    INTERFACE_COMPILE_FEATURES "cxx_std_20")
endif()

# ------------------------------------------------- user activations (plugins)
# torch_act_add_activation(<target> HEADER <file> FUNCTOR <C++ name> [CUDA])
# builds a shared library <target> holding the activation functor FUNCTOR
# (defined in HEADER, see <torch_act/activation.h>) compiled into every CPU
# ISA path of torch_act (and its CUDA kernels with CUDA: the project must
# enable the CUDA language).  Loading the library (linking it with
# --no-as-needed, torch.ops.load_library, torch_act.load_library) registers
# the activation under its kName.  The sources are generated from the same
# templates torch_act.plugin.build uses (share/plugin/*.in).
set(_TORCH_ACT_PLUGIN_TEMPLATES "${_TORCH_ACT_PKG}/share/plugin")
function(torch_act_add_activation target)
  cmake_parse_arguments(TA "CUDA" "HEADER;FUNCTOR" "" ${ARGN})
  if(NOT TA_HEADER OR NOT TA_FUNCTOR)
    message(FATAL_ERROR "torch_act_add_activation(${target}): HEADER <file> and FUNCTOR <name> are required")
  endif()
  get_filename_component(HEADER "${TA_HEADER}" ABSOLUTE)
  if(NOT EXISTS "${HEADER}")
    message(FATAL_ERROR "torch_act_add_activation(${target}): header ${HEADER} not found")
  endif()
  file(SHA256 "${HEADER}" _ta_hash)
  string(SUBSTRING "${_ta_hash}" 0 16 _ta_key)
  set(NAME "${target}")
  set(FUNCTOR "${TA_FUNCTOR}")
  set(SYMBOL "ta_${_ta_key}")
  set(ORIGIN "${target}:${_ta_key}")
  set(WITH_CUDA 0)
  if(TA_CUDA)
    set(WITH_CUDA 1)
  endif()
  set(_ta_dir "${CMAKE_CURRENT_BINARY_DIR}/${target}_plugin")
  set(_ta_isas portable)
  set(USE_PORTABLE 1)
  set(USE_AVX2 0)
  set(USE_AVX512 0)
  set(USE_AMX 0)
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
    list(APPEND _ta_isas avx2 avx512 amx)
    set(USE_AVX2 1)
    set(USE_AVX512 1)
    set(USE_AMX 1)
  endif()
  set(_ta_srcs "")
  foreach(ISA IN LISTS _ta_isas)
    configure_file("${_TORCH_ACT_PLUGIN_TEMPLATES}/isa.cpp.in" "${_ta_dir}/${target}_${ISA}.cpp" @ONLY)
    list(APPEND _ta_srcs "${_ta_dir}/${target}_${ISA}.cpp")
  endforeach()
  if(TA_CUDA)
    configure_file("${_TORCH_ACT_PLUGIN_TEMPLATES}/cuda.cu.in" "${_ta_dir}/${target}_cuda.cu" @ONLY)
    list(APPEND _ta_srcs "${_ta_dir}/${target}_cuda.cu")
  endif()
  configure_file("${_TORCH_ACT_PLUGIN_TEMPLATES}/register.cpp.in" "${_ta_dir}/${target}_register.cpp" @ONLY)
  list(APPEND _ta_srcs "${_ta_dir}/${target}_register.cpp")
  add_library(${target} SHARED ${_ta_srcs})
  target_link_libraries(${target} PRIVATE TorchAct::torch_act)
  set_target_properties(${target} PROPERTIES CXX_VISIBILITY_PRESET default)
endfunction()

set(TorchAct_FOUND TRUE)
if(NOT TorchAct_FIND_QUIETLY)
  set(_ta_where "CPU")
  if(TORCH_ACT_WITH_CUDA)
    set(_ta_where "CPU + CUDA (${TORCH_ACT_CUDA_ARCH_LIST})")
  endif()
  message(STATUS "Found TorchAct ${TORCH_ACT_VERSION}: ${TORCH_ACT_LIBRARY} [${_ta_where}; torch ${Torch_VERSION}]")
endif()
