-- An open help request nobody marks handled goes, once, to the standing-in staff (the district's
-- heads, else the city's admins) after `[replies] help_escalate_minutes`: escalated_at is set by the
-- one statement that claims it, so it is told once whatever the number of processes. A reopen (the
-- undo of a wrong "handled" tap) clears it and starts the wait afresh from reopened_at.
ALTER TABLE help_requests ADD COLUMN escalated_at REAL;
ALTER TABLE help_requests ADD COLUMN reopened_at REAL;
-- When its alerts were queued: a claim with none after ESCALATION_CLAIM_SECONDS was a process killed
-- between the claim and the queue, and is claimed again (told at least once, never lost).
ALTER TABLE help_requests ADD COLUMN escalation_told_at REAL;
