"""Getting contacts to SendGrid: requests built to both caps, sent with bounded overlap, followed to their jobs' end;
STATE once what it covers is settled."""
