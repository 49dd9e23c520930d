// The Alerts page (to be built).
import { notice, pageRoot, replace } from '../lib.js';

export default {
  name: 'alerts',
  title: 'Alerts',
  minRole: 'member',
  render(root) {
    replace(root, pageRoot('alerts', 'Alerts', notice('Not built yet.')));
  },
};
