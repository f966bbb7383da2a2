// Bundled into dist/main.cjs in place of src/main.ts's import of the CLI face (see build.mjs):
// loads the CLI bundle only when a command runs. Run by Node, it is the file beside main.cjs; in
// the single executable, where require() reaches only Node's built-in modules, it is an embedded
// asset compiled here as a CommonJS module.
'use strict';
const { dirname, join } = require('node:path');

function loadCliFace() {
  const sea = require('node:sea');
  if (!sea.isSea()) return require(join(__dirname, '__CLI_FACE__'));
  const vm = require('node:vm');
  const source = sea.getAsset('__CLI_FACE__', 'utf8');
  const wrapper = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename: join(dirname(process.execPath), '__CLI_FACE__'),
    // `demo` imports the development network from node_modules, as the npm bin does.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} };
  wrapper(module.exports, require, module, join(dirname(process.execPath), '__CLI_FACE__'), dirname(process.execPath));
  return module.exports;
}

module.exports = loadCliFace();
