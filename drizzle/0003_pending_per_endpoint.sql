DROP INDEX "deliveries_due_idx";--> statement-breakpoint
CREATE INDEX "deliveries_pending_idx" ON "deliveries" USING btree ("endpoint_id","next_attempt_at") WHERE status = 'pending';--> statement-breakpoint
-- Room on each page for the claim's UPDATE (lease columns only) to stay a heap-only update, and vacuum and
-- analyze that keep up with a queue table's churn (the claim's plan depends on fresh statistics).
ALTER TABLE "deliveries" SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);--> statement-breakpoint
ALTER TABLE "conversations" SET (fillfactor = 80);
