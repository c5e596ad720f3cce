#!/usr/bin/env sh
# Installs code-server (VS Code in a browser, from the npm registry) into client-vscode/.code-server
# for the end-to-end test, without the network downloads its install scripts attempt:
# ripgrep comes from Debian (package ripgrep) instead of GitHub, and native modules are built
# here (Debian's libkrb5-dev for kerberos; node headers from the local Node.js install).
set -eu
VERSION="${CODE_SERVER_VERSION:-4.100.3}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/.code-server"
if [ -x "$DEST/node_modules/.bin/code-server" ] && [ -f "$DEST/.complete" ]; then
  exit 0
fi
# Build against the local Node.js headers: node-gyp would otherwise download them.
NODEDIR=""
[ -f /usr/include/node/node.h ] && NODEDIR="--nodedir=/usr"
command -v rg >/dev/null || { echo "install ripgrep (apt-get install ripgrep)" >&2; exit 1; }
mkdir -p "$DEST"
cd "$DEST"
[ -f package.json ] || echo '{"name":"hearth-code-server","private":true}' > package.json
export npm_config_unsafe_perm=true
npm install --no-audit --no-fund --ignore-scripts "code-server@$VERSION"
npm rebuild argon2 $NODEDIR
cd node_modules/code-server/lib/vscode
npm install --no-audit --no-fund --omit=dev --ignore-scripts
for dir in $(find node_modules -name binding.gyp -not -path '*/ripgrep/*' -not -path '*/windows-*' -printf '%h\n' | sort -u); do
  (cd "$dir" && npx --yes node-gyp rebuild $NODEDIR >/dev/null 2>&1) || { echo "could not build $dir" >&2; exit 1; }
done
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
rm -rf node_modules.asar && ln -s node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
(cd extensions && npm install --no-audit --no-fund --omit=dev --ignore-scripts)
touch "$DEST/.complete"
