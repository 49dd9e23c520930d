// The Overview page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'overview',
  title: 'Overview',
  minRole: 'member',
  render(root) {
    replace(root, pageRoot('overview', 'Overview', notice('Not built yet.')));
  },
};
