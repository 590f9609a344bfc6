-- employee: the SIP peer inventory.  peerlist(1) writes it from Asterisk's
-- own lists and events; dndparse reads it to map a phone's IP to its peer.
--
--   mysql amitools < conf/employee.sql
--
-- Every column but id and updated is written by peerlist; an empty string
-- is "not known".  Widths are in characters and match what peerlist cuts
-- values to, so a long value is never refused half-way through a run.
-- peer compares byte for byte (utf8mb4_bin), as Asterisk names do.

CREATE TABLE IF NOT EXISTS employee (
  id          INT UNSIGNED  NOT NULL AUTO_INCREMENT,
  peer        VARCHAR(80)   CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  description VARCHAR(255)  NOT NULL DEFAULT '',  -- chan_sip description, or the PJSIP callerid's name
  callerid    VARCHAR(80)   NOT NULL DEFAULT '',  -- the callerid's number
  phone       VARCHAR(255)  NOT NULL DEFAULT '',  -- the phone's User-Agent
  ip          VARCHAR(255)  NOT NULL DEFAULT '',  -- last known address, kept when the peer goes away
  incoming    VARCHAR(1000) NOT NULL DEFAULT '',  -- numbers whose Dial() rings the peer, comma-separated
  status      VARCHAR(32)   NOT NULL DEFAULT '',  -- Reachable, Lagged, Unreachable or Unknown (peerlist(1))
  updated     TIMESTAMP     NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (id),
  UNIQUE KEY peer (peer),
  KEY ip (ip)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The table of the cron script peerlist replaces had id, peer, description,
-- callerid, phone, ip and incoming.  To bring such a table up to date (once;
-- a duplicate peer must be removed first for the unique key):
--
--   ALTER TABLE employee
--     ADD COLUMN status VARCHAR(32) NOT NULL DEFAULT '',
--     ADD COLUMN updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
--         ON UPDATE CURRENT_TIMESTAMP,
--     ADD UNIQUE KEY peer (peer),
--     ADD KEY ip (ip);
--
-- The user peerlist logs in as needs SELECT, INSERT, UPDATE and, for -p,
-- DELETE on it; dndparse needs SELECT only:
--
--   GRANT SELECT, INSERT, UPDATE, DELETE ON amitools.employee TO 'peerlist'@'localhost';
--   GRANT SELECT ON amitools.employee TO 'dndparse'@'localhost';
