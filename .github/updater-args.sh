# Sourced by the release jobs: when the updater's signing key is a secret of the repository,
# the bundler also writes the signed update packages (createUpdaterArtifacts); otherwise the
# key variables are removed (an empty one would be taken as a key) and no package is made.
updater_args=()
if [ -n "${TAURI_SIGNING_PRIVATE_KEY:-}" ]; then
  updater_args=(--config '{"bundle":{"createUpdaterArtifacts":true}}')
else
  unset TAURI_SIGNING_PRIVATE_KEY TAURI_SIGNING_PRIVATE_KEY_PASSWORD
  echo "::notice::no TAURI_SIGNING_PRIVATE_KEY secret: installers without update packages"
fi
