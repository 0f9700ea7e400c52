-- Whether a household's consent was stated by a roster cell (同意, 不同意, 条例) or is the default an empty
-- cell gave it (DESIGN §9; review, privacy officer: an ordinary household's defaulted 同意 stayed 同意 once a
-- later file marked it 要配慮, though the law wants a stated consent or the ordinance for one). A stated
-- consent is kept until a cell states another; a defaulted one follows the 要配慮 mark. Rows from before
-- cannot tell: an ordinary household's 同意 is taken as defaulted (it may have been an empty cell; should
-- it become 要配慮 with no consent stated, it is 不同意, the safe side), every other consent as stated (a 不同意
-- or 条例 is never an ordinary household's default, and a 要配慮 household's 不同意 or 同意 is kept as it is).
-- BIGINT 0/1 as `vulnerable`, so that `store copy` takes SQLite's integers as they are.
ALTER TABLE households ADD COLUMN consent_stated BIGINT NOT NULL DEFAULT 1 CHECK (consent_stated IN (0, 1));
UPDATE households SET consent_stated = 0 WHERE consent = 'yes' AND vulnerable = 0;
