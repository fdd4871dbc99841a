SELECT customer, sender FROM {schema}.conversations WHERE conversation_id = $1
