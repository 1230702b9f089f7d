-- fleetgate:up
UPDATE orders SET channel = 'partner' WHERE coupon_id IN (SELECT id FROM coupons WHERE code LIKE 'P-%');
