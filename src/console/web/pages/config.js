// The Configuration page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'config',
  title: 'Configuration',
  minRole: 'operator',
  render(root) {
    replace(root, pageRoot('config', 'Configuration', notice('Not built yet.')));
  },
};
