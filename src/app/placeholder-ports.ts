import type { SelfAuditRecorder } from '../audit-event/self-audit.port';
import type { ExportSchedulePort } from '../export-schedule/export-schedule.port';

/**
 * Stand-ins for ports whose real implementations live in other features (src/audit-event,
 * src/export-schedule). app.ts uses them only until those are wired in; replace the line in
 * app.ts, do not extend these.
 */
export const selfAuditNotRecorded: SelfAuditRecorder = {
  async record() {
    // Intentionally empty: no recorder is wired yet.
  },
};

export const exportScheduleNotKept: ExportSchedulePort = {
  async sync() {
    // Intentionally empty: no scheduler is wired yet.
  },
  async remove() {
    // Intentionally empty: no scheduler is wired yet.
  },
};
