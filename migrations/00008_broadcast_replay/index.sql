-- Broadcast replay (`config.broadcast.replay` on a private channel) reads a topic's broadcasts sent
-- from SQL since a time: this index finds them without reading the rest of the log.
create index events_broadcasts on reactor.events ((data->>'topic'), recorded_at)
  where type = 'data.BroadcastSent';
