{
  "targets": [
    {
      "target_name": "mhsm_pkcs11",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/job.cc",
        "native/library.cc",
        "native/marshal.cc",
        "native/module.cc",
        "native/module-objects.cc",
        "native/module-crypto.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      # NODE_ADDON_API_CPP_EXCEPTIONS_ALL: any C++ exception that reaches a JS-thread entry point
      # becomes a JS Error instead of std::terminate (job.cc already converts its own).
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      },
      "conditions": [
        ["OS!='win'", { "libraries": ["-ldl"] }]
      ]
    }
  ]
}
