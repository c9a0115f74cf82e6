ALTER TABLE "webhook_endpoints" ADD COLUMN "previous_secrets" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
-- The secret a rotation before this version left signing keeps signing until its own expiry.
UPDATE "webhook_endpoints" SET "previous_secrets" = jsonb_build_array(jsonb_build_object(
  'secretEnc', "previous_secret_enc", 'expiresAt', to_char("previous_secret_expires_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
WHERE "previous_secret_enc" IS NOT NULL AND "previous_secret_expires_at" > now();
