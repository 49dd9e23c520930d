// The Providers page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'providers',
  title: 'Providers',
  minRole: 'operator',
  render(root) {
    replace(root, pageRoot('providers', 'Providers', notice('Not built yet.')));
  },
};
