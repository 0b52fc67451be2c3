import { describeDevice } from '@parley/contracts';

/** The device fields every web sign-in sends; the refresh token must come back as a cookie. */
export function webDeviceFields() {
  return {
    deviceName: describeDevice(typeof navigator === 'undefined' ? '' : navigator.userAgent),
    platform: 'web',
    refreshTokenDelivery: 'cookie' as const,
  };
}
