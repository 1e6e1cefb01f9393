/**
 * silver.customers and its rules (sql/silver/int_customer_records, int_erp_demographics,
 * int_erp_locations, int_customers, customers, customers_quarantine): one small inline set of the six
 * source files, one real build, then one test per named rule — the input row's output in the
 * published model (or its quarantine row) and the rule's count for the run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTarget, uniqueTarget } from '../support/database.ts';
import { balance, buildFixture, describeFailure, type FixtureBuild, unplanned, sqlFor } from './helpers.ts';

const target = uniqueTarget('sql_cust');
const db = sqlFor(target);
let build: FixtureBuild | undefined;

// cust_info: cst_id, cst_key, cst_firstname, cst_lastname, cst_marital_status, cst_gndr, cst_create_date
const CUST_INFO = [
  '11000,AW00011000,Jon,Yang,M,M,2025-10-06', // clean
  '11001,AW00011001,  Eugène ,Huang   Li ,S,F,2025-10-06', // customer_name_trimmed (padding + inner run)
  '11002,AW00011002,   ,Torres,M,M,2025-10-07', // customer_name_trimmed (blank first name -> NULL)
  '11003,AW00011003,Old,Record,S,,2025-10-01', // customer_duplicate_superseded (older create date)
  '11003,AW00011003,New,Record,M,F,2025-11-01', //   kept: latest cst_create_date
  '11004,AW00011004,First,Tie,S,M,2025-10-06', // customer_duplicate_superseded (tie: earlier line)
  '11004,AW00011004,Second,Tie,S,M,2025-10-06', //   kept: tie -> the later line
  '11005,AW00011005,Newer,First,M,F,2025-12-01', //   kept: latest date although the earlier line
  '11005,AW00011005,Older,Second,S,M,2025-10-01', // customer_duplicate_superseded
  ',SF566,,,,,', // customer_id_invalid (empty cst_id)
  '12abc,AW00012ABC,Bad,Id,S,M,2025-10-06', // customer_id_invalid (not a whole number)
  '11006,AW00011006,Mary,Jones,X,F,2025-10-06', // marital_status_unrecognized
  '11007,AW00011007,Ann,Lee,,F,2025-13-01', // customer_created_date_unparseable (blank marital: Unknown, not counted)
  '11008,AW00011008,Eva,Green,S,,2025-10-06', // customer_gender_from_erp ('female ')
  '11009,AW00011009,Max,Brown,M,,2025-10-06', // customer_gender_from_erp (from the later of two ERP rows)
  '11010,AW00011010,Sam,Gray,S,,2025-10-06', // no gender anywhere -> Unknown (not counted)
  '11011,AW00011011,Tom,White,M,M,2025-10-06', // gender_conflict_crm_kept (ERP Female)
  '11012,AW00011012,Nora,Black,S,F,2025-10-06', // customer_without_erp_demographics + _location
  '11013,AW00011013,Liam,Stone,M,M,2025-10-06', // customer_without_erp_location only
  '11014,AW00011014,Ivy,Reed,S,F,2025-10-06', // birthdate_unparseable (1980-02-30)
  '11015,AW00011015,Leo,King,M,M,2025-10-06', // birthdate_unparseable (n/a)
  '11016,AW00011016,Zoe,Hill,S,F,2025-10-06', // birthdate_in_future (as_of + 1 day)
  '11017,AW00011017,Ben,Ward,M,M,2025-10-06', // birthdate = as_of: kept
  '11018,AW00011018,Ada,Cole,S,F,2025-10-06', // birthdate_too_old (110 years + 1 day before as_of)
  '11019,AW00011019,Ray,Ford,M,M,2025-10-06', // birthdate exactly 110 years before as_of: kept
];

// cust_az12: CID, BDATE, GEN
const CUST_AZ12 = [
  'NASAW00011000,1971-10-06,Male',
  'AW00011001,1976-05-10,Female',
  'nasaw00011002 ,1980-01-01,M', // CID lower-case with a trailing space: still AW00011002
  'NASAW00011003,1985-03-03,F',
  'AW00011004,1990-04-04,Male',
  'AW00011005,1960-05-05,Female',
  'NASAW00011006,1970-06-06,F',
  'AW00011007,1975-07-07,F',
  'AW00011008,1982-08-08,female ',
  'AW00011009,1970-01-01,F', // erp_demographics_duplicate_superseded
  'NASAW00011009,1975-05-05,M', //   kept: the later line
  'AW00011010,1977-10-10,',
  'AW00011011,1966-11-11,Female',
  'AW00011013,1988-12-12,Male',
  'AW00011014,1980-02-30,F',
  'AW00011015,n/a,M',
  'AW00011016,2014-01-30,F',
  'AW00011017,2014-01-29,M',
  'AW00011018,1904-01-28,F',
  'AW00011019,1904-01-29,M',
  ',1970-01-01,M', // erp_demographics_key_missing (empty CID)
  'NAS,1971-01-01,F', // erp_demographics_key_missing (nothing left after NAS)
];

// loc_a101: CID, CNTRY
const LOC_A101 = [
  'AW-00011000,Australia',
  'AW-00011001,DE', // country_normalized
  'AW-00011002,usa', // country_normalized
  'AW-00011003, US ', // country_normalized
  'AW-00011004,UK', // country_normalized
  'AW-00011005,FR', // country_normalized
  'AW-00011006,Narnia  Land', // anything else: trimmed as is (not counted)
  'AW-00011007,', // country_unknown (empty)
  'AW-00011008,   ', // country_unknown (whitespace only)
  'AW-00011009,Germany',
  'AW-00011010,France', // erp_location_duplicate_superseded
  'AW00011010,Canada', //   kept: the later line (CID without a dash)
  'AW-00011011,United States',
  'AW-00011014,Canada',
  'AW-00011015,Canada',
  'AW-00011016,Canada',
  'AW-00011017,Canada',
  'AW-00011018,Canada',
  'AW-00011019,Canada',
  ',Germany', // erp_location_key_missing (empty CID)
  '-,France', // erp_location_key_missing (only a dash)
];

/** The line number in its file of the data line that starts with `prefix` (header = line 1). */
function lineOf(lines: string[], prefix: string): number {
  const i = lines.findIndex((l) => l.startsWith(prefix));
  if (i < 0) throw new Error(`no fixture line starts with ${prefix}`);
  return i + 2;
}

interface Customer {
  customer_id: number;
  customer_key: string;
  first_name: string | null;
  last_name: string | null;
  marital_status: string;
  gender: string;
  birthdate: string | null;
  country: string;
  created_date: string | null;
}

async function customer(id: number): Promise<Customer> {
  return db.one<Customer & Record<string, unknown>>(
    `select customer_id::int as customer_id, customer_key, first_name, last_name, marital_status, gender,
            birthdate::text as birthdate, country, created_date::text as created_date
       from silver.customers where customer_id = $1`,
    [id],
  );
}

beforeAll(async () => {
  build = await buildFixture(target, {
    cust_info: CUST_INFO,
    cust_az12: CUST_AZ12,
    loc_a101: LOC_A101,
    prd_info: ['1,BI-RB-BK-R93R-62,Road-150 Red- 62,50,R ,2010-01-01,'],
    px_cat_g1v2: ['BI_RB,Bikes,Road Bikes,Yes'],
    sales_details: ['SO1,BK-R93R-62,11000,20140101,20140108,20140113,100,1,100'],
  });
  expect(build.result.code, describeFailure(build.result)).toBe(0);
});

afterAll(async () => {
  await dropTarget(target);
  await build?.cleanup();
});

/** Every rule this fixture triggers, with its count; every other rule must count 0. */
const EXPECTED_COUNTS = {
  customer_id_invalid: 2,
  customer_duplicate_superseded: 3,
  customer_name_trimmed: 2,
  marital_status_unrecognized: 1,
  customer_created_date_unparseable: 1,
  customer_gender_from_erp: 2,
  gender_conflict_crm_kept: 1,
  customer_without_erp_demographics: 1,
  customer_without_erp_location: 2,
  birthdate_unparseable: 2,
  birthdate_in_future: 1,
  birthdate_too_old: 1,
  country_normalized: 5,
  country_unknown: 2,
  erp_demographics_duplicate_superseded: 1,
  erp_location_duplicate_superseded: 1,
  erp_demographics_key_missing: 2,
  erp_location_key_missing: 2,
};

describe('silver.customers: one test per rule', () => {
  it('customer_id_invalid: rows with an empty or non-integer cst_id are quarantined with file, line and values', async () => {
    const rows = await db.quarantined('customer_id_invalid');
    expect(rows.map(({ message, ...r }) => r)).toEqual([
      {
        model: 'silver.customers',
        rule: 'customer_id_invalid',
        source_file: 'cust_info.csv',
        line_number: lineOf(CUST_INFO, ',SF566'),
        values: { cst_id: null, cst_key: 'SF566', cst_firstname: null, cst_lastname: null },
      },
      {
        model: 'silver.customers',
        rule: 'customer_id_invalid',
        source_file: 'cust_info.csv',
        line_number: lineOf(CUST_INFO, '12abc'),
        values: { cst_id: '12abc', cst_key: 'AW00012ABC', cst_firstname: 'Bad', cst_lastname: 'Id' },
      },
    ]);
    for (const r of rows) expect(r.message).toMatch(/cst_id/);
    expect(await db.rows(`select 1 from silver.customers where customer_key in ('SF566', 'AW00012ABC')`)).toEqual([]);
    expect(await db.ruleCount('customer_id_invalid')).toBe(2);
  });

  it('customer_duplicate_superseded: the latest cst_create_date wins, a tie goes to the later line; losers stay in bronze', async () => {
    expect(await customer(11003)).toMatchObject({ first_name: 'New', last_name: 'Record', marital_status: 'Married', created_date: '2025-11-01' });
    expect(await customer(11004)).toMatchObject({ first_name: 'Second', last_name: 'Tie' });
    expect(await customer(11005)).toMatchObject({ first_name: 'Newer', last_name: 'First', gender: 'Female', created_date: '2025-12-01' });
    const inBronze = await db.rows<{ cst_id: string; n: number }>(
      `select cst_id, count(*)::int as n from bronze.cust_info where cst_id in ('11003', '11004', '11005') group by cst_id order by cst_id`,
    );
    expect(inBronze).toEqual([
      { cst_id: '11003', n: 2 },
      { cst_id: '11004', n: 2 },
      { cst_id: '11005', n: 2 },
    ]);
    expect(await db.ruleCount('customer_duplicate_superseded')).toBe(3);
  });

  it('customer_name_trimmed: names trimmed, inner whitespace collapsed, blank -> NULL', async () => {
    expect(await customer(11001)).toMatchObject({ first_name: 'Eugène', last_name: 'Huang Li' });
    expect(await customer(11002)).toMatchObject({ first_name: null, last_name: 'Torres' });
    expect(await customer(11000)).toMatchObject({ first_name: 'Jon', last_name: 'Yang' });
    expect(await db.ruleCount('customer_name_trimmed')).toBe(2);
  });

  it('marital_status_unrecognized: a marital status other than S/M/blank becomes Unknown (blank is Unknown too, not counted)', async () => {
    expect((await customer(11006)).marital_status).toBe('Unknown');
    expect((await customer(11007)).marital_status).toBe('Unknown');
    expect((await customer(11000)).marital_status).toBe('Married');
    expect((await customer(11001)).marital_status).toBe('Single');
    expect(await db.ruleCount('marital_status_unrecognized')).toBe(1);
  });

  it('customer_created_date_unparseable: an impossible cst_create_date gives created_date NULL', async () => {
    expect((await customer(11007)).created_date).toBeNull();
    expect((await customer(11000)).created_date).toBe('2025-10-06');
    expect(await db.ruleCount('customer_created_date_unparseable')).toBe(1);
  });

  it('customer_gender_from_erp: CRM gender empty -> ERP GEN (any case, trimmed); none anywhere -> Unknown', async () => {
    expect((await customer(11008)).gender).toBe('Female'); // ERP 'female '
    expect((await customer(11009)).gender).toBe('Male'); // ERP 'M' on the later of its two rows
    expect((await customer(11010)).gender).toBe('Unknown'); // ERP GEN empty
    expect((await customer(11002)).gender).toBe('Male'); // CRM M, ERP M: CRM, not counted
    expect(await db.ruleCount('customer_gender_from_erp')).toBe(2);
  });

  it('gender_conflict_crm_kept: CRM M vs ERP Female keeps the CRM gender', async () => {
    expect((await customer(11011)).gender).toBe('Male');
    expect(await db.ruleCount('gender_conflict_crm_kept')).toBe(1);
  });

  it('customer_without_erp_demographics: a customer with no cust_az12 row is kept, birthdate NULL, CRM gender', async () => {
    expect(await customer(11012)).toMatchObject({ birthdate: null, gender: 'Female', country: 'Unknown', first_name: 'Nora' });
    expect(await db.ruleCount('customer_without_erp_demographics')).toBe(1);
  });

  it('customer_without_erp_location: no loc_a101 row -> country Unknown (with or without demographics)', async () => {
    expect((await customer(11012)).country).toBe('Unknown');
    expect(await customer(11013)).toMatchObject({ country: 'Unknown', birthdate: '1988-12-12' });
    expect(await db.ruleCount('customer_without_erp_location')).toBe(2);
  });

  it('birthdate_unparseable: an impossible or non-date BDATE gives birthdate NULL', async () => {
    expect((await customer(11014)).birthdate).toBeNull(); // 1980-02-30
    expect((await customer(11015)).birthdate).toBeNull(); // n/a
    expect(await db.ruleCount('birthdate_unparseable')).toBe(2);
  });

  it('birthdate_in_future: a BDATE after as_of gives NULL; one equal to as_of is kept', async () => {
    expect((await customer(11016)).birthdate).toBeNull(); // 2014-01-30
    expect((await customer(11017)).birthdate).toBe('2014-01-29');
    expect(await db.ruleCount('birthdate_in_future')).toBe(1);
  });

  it('birthdate_too_old: more than 110 years before as_of gives NULL; exactly 110 years is kept', async () => {
    expect((await customer(11018)).birthdate).toBeNull(); // 1904-01-28
    expect((await customer(11019)).birthdate).toBe('1904-01-29');
    expect(await db.ruleCount('birthdate_too_old')).toBe(1);
  });

  it('country_normalized: codes and spellings map to one English name; anything else is kept trimmed', async () => {
    const countries = await db.rows<{ id: number; country: string }>(
      'select customer_id::int as id, country from silver.customers where customer_id between 11000 and 11006 order by customer_id',
    );
    expect(countries).toEqual([
      { id: 11000, country: 'Australia' },
      { id: 11001, country: 'Germany' }, // DE
      { id: 11002, country: 'United States' }, // usa
      { id: 11003, country: 'United States' }, // ' US '
      { id: 11004, country: 'United Kingdom' }, // UK
      { id: 11005, country: 'France' }, // FR
      { id: 11006, country: 'Narnia Land' }, // 'Narnia  Land', not counted
    ]);
    expect(await db.ruleCount('country_normalized')).toBe(5);
  });

  it('country_unknown: an empty or whitespace-only CNTRY gives Unknown', async () => {
    expect((await customer(11007)).country).toBe('Unknown');
    expect((await customer(11008)).country).toBe('Unknown');
    expect(await db.ruleCount('country_unknown')).toBe(2);
  });

  it('erp_demographics_duplicate_superseded: two cust_az12 rows for one key -> the later line wins', async () => {
    expect(await customer(11009)).toMatchObject({ birthdate: '1975-05-05', gender: 'Male' });
    expect(await db.ruleCount('erp_demographics_duplicate_superseded')).toBe(1);
  });

  it('erp_location_duplicate_superseded: two loc_a101 rows for one key -> the later line wins', async () => {
    expect((await customer(11010)).country).toBe('Canada');
    expect(await db.ruleCount('erp_location_duplicate_superseded')).toBe(1);
  });

  it('erp_demographics_key_missing: cust_az12 rows with an empty CID are quarantined', async () => {
    const rows = await db.quarantined('erp_demographics_key_missing');
    expect(rows.map(({ message, ...r }) => r)).toEqual([
      {
        model: 'silver.customers',
        rule: 'erp_demographics_key_missing',
        source_file: 'cust_az12.csv',
        line_number: lineOf(CUST_AZ12, ',1970'),
        values: { cid: null, bdate: '1970-01-01', gen: 'M' },
      },
      {
        model: 'silver.customers',
        rule: 'erp_demographics_key_missing',
        source_file: 'cust_az12.csv',
        line_number: lineOf(CUST_AZ12, 'NAS,'),
        values: { cid: 'NAS', bdate: '1971-01-01', gen: 'F' },
      },
    ]);
    expect(await db.ruleCount('erp_demographics_key_missing')).toBe(2);
  });

  it('erp_location_key_missing: loc_a101 rows with an empty CID are quarantined', async () => {
    const rows = await db.quarantined('erp_location_key_missing');
    expect(rows.map(({ message, ...r }) => r)).toEqual([
      {
        model: 'silver.customers',
        rule: 'erp_location_key_missing',
        source_file: 'loc_a101.csv',
        line_number: lineOf(LOC_A101, ',Germany'),
        values: { cid: null, cntry: 'Germany' },
      },
      {
        model: 'silver.customers',
        rule: 'erp_location_key_missing',
        source_file: 'loc_a101.csv',
        line_number: lineOf(LOC_A101, '-,'),
        values: { cid: '-', cntry: 'France' },
      },
    ]);
    expect(await db.ruleCount('erp_location_key_missing')).toBe(2);
  });
});

describe('silver.customers: the rest of the contract', () => {
  it('has one row per valid customer id, joined to ERP by CID without NAS / dashes, trimmed and upper-cased', async () => {
    const ids = await db.rows<{ id: number }>('select customer_id::int as id from silver.customers order by 1');
    expect(ids.map((r) => r.id)).toEqual(Array.from({ length: 20 }, (_, i) => 11000 + i));
    expect(await customer(11000)).toEqual({
      customer_id: 11000,
      customer_key: 'AW00011000',
      first_name: 'Jon',
      last_name: 'Yang',
      marital_status: 'Married',
      gender: 'Male',
      birthdate: '1971-10-06',
      country: 'Australia',
      created_date: '2025-10-06',
    });
    expect((await customer(11002)).birthdate).toBe('1980-01-01'); // CID 'nasaw00011002 '
  });

  it('no rule outside the fixture plan counts any row (every other row is clean)', async () => {
    expect(unplanned(await db.ruleCounts(), EXPECTED_COUNTS)).toEqual({});
  });

  it('reconciles: bronze rows = silver (or kept) rows + superseded + quarantined, for every source', async () => {
    const entries = await db.reconciliation();
    for (const e of entries) expect(e.accounted, `${e.source}: ${JSON.stringify(e.parts)}`).toBe(e.bronze);
    expect(balance(entries)).toMatchObject({
      cust_info: { bronze: CUST_INFO.length },
      cust_az12: { bronze: CUST_AZ12.length },
      loc_a101: { bronze: LOC_A101.length },
      sales_details: { bronze: 1 },
    });
  });
});
