-- A warehouse table of customer profiles, with the column types the pipeline tests read through
-- real Postgres taps: numeric, date, timestamptz, boolean, jsonb, text[], NULLs and unicode.
CREATE TABLE public.customers (
  id serial PRIMARY KEY,
  email text,
  first_name text,
  last_name text,
  ltv numeric(12,2),
  signup date,
  last_seen timestamptz,
  vip boolean,
  profile jsonb,
  segments text[],
  note text
);
INSERT INTO public.customers (email, first_name, last_name, ltv, signup, last_seen, vip, profile, segments, note) VALUES
  ('Zoe.Mueller@Example.com', 'Zoë', 'Müller', 1234.50, '2024-03-15', '2024-03-15 10:00:00+02', true,
   '{"tier": 2, "tags": ["a"]}', '{gold,newsletter}', 'first'),
  ('kenji@example.jp', '健二', '山田', 0.01, '2023-12-01', '2024-01-31 23:59:59+00', false, '{}', '{silver}', NULL),
  ('nulls@example.com', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  ('not-an-email', 'Bad', 'Address', 5, '2024-01-01', '2024-01-01 00:00:00+00', true, '[]', '{gold}', 'x');
