# The native fast path of chain verification (chain_check.c): a SQLite loadable extension, not a
# Node addon. Built by scripts/build-native.js (npm's postinstall, `npm run build:native`) with
# node-gyp, which supplies Node's OpenSSL headers; the OpenSSL symbols are Node's own at load time.
{
  "targets": [
    {
      "target_name": "chain_check",
      "type": "loadable_module",
      "sources": ["chain_check.c"],
      "include_dirs": ["../../node_modules/better-sqlite3/deps/sqlite3"],
      "cflags": ["-O2", "-Wall", "-Wno-deprecated-declarations"],
      "cflags!": ["-O3"],
      "xcode_settings": { "OTHER_CFLAGS": ["-Wno-deprecated-declarations"], "OTHER_LDFLAGS": ["-undefined dynamic_lookup"] }
    }
  ]
}
