-- Markers (store.Store.Mark) live in relayed_parts, named for the first
-- facts they recorded; part_id holds the marker.
SELECT EXISTS (SELECT 1 FROM {schema}.relayed_parts WHERE part_id = $1)
